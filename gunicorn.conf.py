"""gunicorn settings for MUSES (read from the working directory by `gunicorn muses.wsgi`)."""

import os

bind = os.getenv("MUSES_BIND", "127.0.0.1:8000")
workers = int(os.getenv("WEB_CONCURRENCY", "2"))
# Threads let the dynamic batcher gather concurrent uploads into one forward pass.
threads = int(os.getenv("MUSES_WEB_THREADS", "8"))
timeout = 120
# SIGTERM lets requests in flight finish for this long, then the workers are killed.
graceful_timeout = int(os.getenv("MUSES_GRACEFUL_TIMEOUT", "10"))
# gunicorn's control socket has one default path per user: several servers on a machine
# (tests, benches, a second checkout) would fight over it, and MUSES does not use it.
control_socket_disable = True


def post_worker_init(worker):
    """Import every view and load the backbone (tracing its batch shapes) before the worker
    takes requests, so that its first page answers at once."""
    if os.getenv("MUSES_WARM_UP", "1") != "1":
        return
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports the URLconf and every view it names)
    from muses.vision.backbones import BackboneUnavailable, get_backbone
    from muses.vision.batching import batcher_warm_up

    try:
        batcher_warm_up(get_backbone())
    except BackboneUnavailable as exc:  # the API answers 503 with this message instead
        worker.log.warning("backbone not warmed up: %s", exc)


def worker_exit(server, worker):
    """End the worker here, with the status it is leaving with: a worker that loaded
    TensorFlow could otherwise spend longer than graceful_timeout in the interpreter's final
    garbage collection, and be killed. (gunicorn also calls this hook in the master, for a
    worker that is already gone: nothing to do there.)"""
    import sys

    from muses.shutdown import exit_code, exit_now

    if os.getpid() != worker.pid:
        return
    leaving = sys.exc_info()[1]
    if isinstance(leaving, SystemExit):
        exit_now(exit_code(leaving))
    if leaving is None:
        exit_now(0)
