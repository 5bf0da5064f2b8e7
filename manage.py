#!/usr/bin/env python
"""MUSES command-line entry point."""

import os
import sys
import traceback


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "muses.settings")
    from django.core.management import execute_from_command_line

    from muses.shutdown import exit_code, exit_now, qcluster_stop_once

    if sys.argv[1:2] == ["qcluster"]:
        import django

        django.setup()
        qcluster_stop_once()

    # Every way out goes through exit_now, so a command that loaded TensorFlow ends as
    # soon as it is done or interrupted (Ctrl-C, SIGTERM via qcluster's own handler).
    try:
        execute_from_command_line(sys.argv)
    except SystemExit as exc:
        exit_now(exit_code(exc))
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        exit_now(130)
    except BaseException:
        traceback.print_exc()
        exit_now(1)
    exit_now(0)


if __name__ == "__main__":
    main()
