"""gunicorn settings for MUSES (read from the working directory by `gunicorn muses.wsgi`)."""

import os

bind = os.getenv("MUSES_BIND", "127.0.0.1:8000")
workers = int(os.getenv("WEB_CONCURRENCY", "2"))
# Threads let the dynamic batcher gather concurrent uploads into one forward pass.
threads = int(os.getenv("MUSES_WEB_THREADS", "8"))
timeout = 120


def post_worker_init(worker):
    """Load the backbone and trace its batch shapes before the worker takes requests."""
    if os.getenv("MUSES_WARM_UP", "1") != "1":
        return
    from muses.vision.backbones import BackboneUnavailable, get_backbone
    from muses.vision.batching import batcher_warm_up

    try:
        batcher_warm_up(get_backbone())
    except BackboneUnavailable as exc:  # the API answers 503 with this message instead
        worker.log.warning("backbone not warmed up: %s", exc)
