"""How long ./manage.py commands take to start, before and after machine learning became a
lazy import, in one run: each command runs alternately in this checkout and in the files of
an older commit (sharing this .venv), and the median wall time of each is printed.

.venv/bin/python bench/startup.py [--before REF] [--runs N]

REF defaults to cb2b508, the last commit whose commands imported TensorFlow at start-up.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, checkout_at

COMMANDS = (("check",), ("muses_import", "--help"), ("help",))
BEFORE_REF = "cb2b508"


def seconds_to_run(folder: Path, command: tuple[str, ...], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=BEFORE_REF, help="the git ref measured as before")
    parser.add_argument("--runs", type=int, default=5, help="runs of each command on each side")
    args = parser.parse_args()
    env = {**os.environ, "MUSES_VAR_DIR": tempfile.mkdtemp(prefix="muses-bench-startup-")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    sides = {"before": checkout_at(args.before), "after": ROOT}
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average), {os.cpu_count()} CPUs")
    for command in COMMANDS:
        times = {side: [] for side in sides}
        for _ in range(args.runs):  # alternated, so both sides see the same load
            for side, folder in sides.items():
                times[side].append(seconds_to_run(folder, command, env))
        before, after = (statistics.median(times[side]) for side in sides)
        print(
            f"manage.py {' '.join(command):22} before {before:5.2f} s  after {after:5.2f} s  "
            f"{before / after:4.1f}x faster  (medians of {args.runs})"
        )
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average)")


if __name__ == "__main__":
    main()
