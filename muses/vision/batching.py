"""Dynamic batching: concurrent single-image requests share one forward pass.

A request thread submits its preprocessed pixels and waits; one worker thread per
backbone collects up to MUSES_BATCH_MAX requests, waiting at most MUSES_BATCH_WAIT_MS
for more after the first, and runs them through the network together.
"""

import queue
import threading
from concurrent.futures import Future

import numpy as np
from django.conf import settings

_batchers: dict[int, "DynamicBatcher"] = {}
_batchers_lock = threading.Lock()


class DynamicBatcher:
    def __init__(self, backbone, *, max_batch: int, wait_ms: float):
        self.backbone = backbone
        self.max_batch = max_batch
        self.wait_s = wait_ms / 1000.0
        self._queue: queue.Queue[tuple[np.ndarray, Future]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="muses-batcher", daemon=True)
        self._thread.start()

    def submit(self, pixels: np.ndarray) -> np.ndarray:
        """Features of one preprocessed image; blocks until its batch has run."""
        future: Future = Future()
        self._queue.put((pixels, future))
        return future.result()

    def _run(self) -> None:
        while True:
            batch = self._collect()
            pixels = np.stack([p for p, _ in batch])
            try:
                vectors = self.backbone.extract(pixels, batch_size=_bucket(len(batch)))
            except Exception as exc:  # hand the failure to every waiting request
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, future), vector in zip(batch, vectors):
                future.set_result(vector)

    def _collect(self) -> list[tuple[np.ndarray, Future]]:
        batch = [self._queue.get()]
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get(timeout=self.wait_s))
            except queue.Empty:
                break
        return batch


def _bucket(size: int) -> int:
    """Round batch sizes up to a few fixed shapes, so the graph is traced only a few times."""
    for bucket in (1, 4, 8, 16, 32, 64):
        if size <= bucket:
            return bucket
    return size


def batcher_for(backbone) -> DynamicBatcher:
    with _batchers_lock:
        key = id(backbone)
        if key not in _batchers:
            _batchers[key] = DynamicBatcher(
                backbone,
                max_batch=settings.MUSES_BATCH_MAX,
                wait_ms=settings.MUSES_BATCH_WAIT_MS,
            )
        return _batchers[key]
