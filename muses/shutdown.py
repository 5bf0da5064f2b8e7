"""End a MUSES process promptly once its work is done, TensorFlow or not.

A process that has loaded TensorFlow can take longer than any supervisor waits (gunicorn
kills its workers after `graceful_timeout`, a terminal user presses Ctrl-C twice) in the
interpreter's final garbage collection, which tears down TensorFlow's objects one by one
while its native threads still run. Nothing is left to clean up by then: database
connections are closed, logs and output flushed, and atexit handlers have run. So once
TensorFlow is loaded the process ends there with os._exit.
"""

import atexit
import logging
import os
import sys
import threading
from typing import NoReturn


def exit_now(code: int = 0) -> NoReturn:
    """Flush, close and end the process with `code`, skipping the final collection when
    TensorFlow is loaded (otherwise an ordinary sys.exit)."""
    if "tensorflow" not in sys.modules:
        sys.exit(code)
    _close_database_connections()
    atexit._run_exitfuncs()  # e.g. logging.shutdown flushes the handlers
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)


def exit_code(exc: SystemExit) -> int:
    """The status a SystemExit stands for, as the interpreter would compute it."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _close_database_connections() -> None:
    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # Django not configured, or the database is already away
        pass


QCLUSTER_STOP_S = 10.0


def qcluster_stop_once() -> None:
    """Make django-q2's cluster stop once, and within QCLUSTER_STOP_S, whatever signals
    arrive. Two ways it used to hang for good: its handler re-entered the stop (and the
    multiprocessing Event it sets) when a second signal came (a second Ctrl-C, or Ctrl-C
    to the terminal's process group plus a supervisor's SIGTERM); and a SIGTERM to the
    whole group (systemd's default) kills its sentinel process, which may hold that Event's
    lock, so the stop waits forever. A watchdog thread then ends the cluster's processes."""
    from django_q.cluster import Cluster

    if getattr(Cluster.sig_handler, "stops_once", False):
        return
    handle = Cluster.sig_handler

    def sig_handler(self, signum, frame):
        if getattr(self, "_stopping", False):
            return
        self._stopping = True
        watchdog = threading.Timer(QCLUSTER_STOP_S, _qcluster_force_stop)
        watchdog.daemon = True
        watchdog.start()
        handle(self, signum, frame)
        watchdog.cancel()

    sig_handler.stops_once = True
    Cluster.sig_handler = sig_handler
    _children_die_with_parent()


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _children_die_with_parent() -> None:
    """Every process the cluster forks (sentinel, workers, monitor, pusher) is killed by
    the kernel when the process that forked it dies, even by SIGKILL: a killed master and
    sentinel must not leave workers running under init, holding tasks and connections."""
    import multiprocessing.util

    multiprocessing.util.register_after_fork(_children_die_with_parent, _die_with_parent)


def _die_with_parent(_=None) -> None:
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: no such call
        return
    if os.getppid() == 1:  # the parent died before the call took effect
        os._exit(1)


def _qcluster_force_stop() -> None:
    logging.getLogger(__name__).error(
        "the queue cluster did not stop within %.0f s: ending its processes", QCLUSTER_STOP_S
    )
    import psutil

    for child in psutil.Process().children(recursive=True):
        try:
            child.kill()
        except psutil.Error:  # already gone
            pass
    logging.shutdown()
    sys.stderr.flush()
    os._exit(1)  # from this thread: sys.exit would end only the thread
