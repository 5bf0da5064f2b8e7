"""Dynamic batching: concurrent single-image requests share one forward pass.

A request thread submits its preprocessed pixels and waits; worker threads (one per
network stream, MUSES_NETWORK_STREAMS) run everything queued (up to MUSES_BATCH_MAX)
through the network together. A lone request runs at once: a worker waits (at most
MUSES_BATCH_WAIT_MS) only while other requests have announced themselves but not yet
arrived. Under load, requests pile up while a batch runs; a second stream starts its batch
alongside once it holds half a full batch (smaller overlapping batches cost more than they
save), otherwise when the running batch ends.
"""

import queue
import threading
import time
from concurrent.futures import Future

import numpy as np
from django.conf import settings

# Fine steps: a batch is padded up to the next size, and padding is wasted compute.
BUCKETS = (1, 2, 4, 8, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64)
BUSY_POLL_S = 0.002
_batchers: dict[int, "DynamicBatcher"] = {}
_batchers_lock = threading.Lock()


class DynamicBatcher:
    def __init__(self, backbone, *, max_batch: int, wait_ms: float, streams: int = 1):
        self.backbone = backbone
        self.max_batch = max_batch
        self.wait_s = wait_ms / 1000.0
        self._queue: queue.Queue[tuple[np.ndarray, Future]] = queue.Queue()
        self._announced = 0  # requests between announce() and their result
        self._running = 0  # batches in the network now
        self._count_lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, name=f"muses-batcher-{i}", daemon=True)
            for i in range(max(1, streams))
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, pixels: np.ndarray) -> np.ndarray:
        """Features of one preprocessed image; blocks until its batch has run."""
        future: Future = Future()
        self._queue.put((pixels, future))
        return future.result()

    def announce(self) -> "_Announcement":
        """Tell the batcher a request is on its way (decoding), so a batch waits for it."""
        return _Announcement(self)

    def _run(self) -> None:
        while True:
            batch = self._collect()
            with self._count_lock:
                self._running += 1
            try:
                self._forward(batch)
            finally:
                with self._count_lock:
                    self._running -= 1

    def _forward(self, batch: list[tuple[np.ndarray, Future]]) -> None:
        pixels = np.stack([p for p, _ in batch])
        try:
            vectors = self.backbone.extract(pixels, batch_size=_bucket(len(batch)))
        except Exception as exc:  # hand the failure to every waiting request
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), vector in zip(batch, vectors):
            future.set_result(vector)

    def _collect(self) -> list[tuple[np.ndarray, Future]]:
        batch = [self._queue.get()]
        deadline = time.monotonic() + self.wait_s
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            if self._running and len(batch) < self.max_batch // 2:
                # Another stream is busy: gather until this batch is worth running alongside.
                try:
                    batch.append(self._queue.get(timeout=BUSY_POLL_S))
                except queue.Empty:
                    pass
                continue
            remaining = deadline - time.monotonic()
            if self._announced <= len(batch) or remaining <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch


class _Announcement:
    def __init__(self, batcher: DynamicBatcher):
        self.batcher = batcher

    def __enter__(self):
        with self.batcher._count_lock:
            self.batcher._announced += 1
        return self

    def __exit__(self, *exc):
        with self.batcher._count_lock:
            self.batcher._announced -= 1
        return False


def _bucket(size: int) -> int:
    """Round batch sizes up to a few fixed shapes, so the graph is traced only a few times."""
    for bucket in BUCKETS:
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
                streams=settings.MUSES_NETWORK_STREAMS,
            )
        return _batchers[key]


def batcher_warm_up(backbone) -> None:
    """Trace every bucket shape before the first request, so no user waits for it."""
    size = backbone.input_size
    for bucket in BUCKETS:
        if bucket <= settings.MUSES_BATCH_MAX:
            backbone.extract(np.zeros((bucket, size, size, 3), np.uint8), batch_size=bucket)
