import threading
import time

import numpy as np

from muses.vision.batching import DynamicBatcher


class RecordingBackbone:
    """Doubles its input and records the size of every batch it is given."""

    def __init__(self, seconds_per_batch=0.0):
        self.batches = []
        self.seconds = seconds_per_batch

    def extract(self, pixels, *, batch_size):
        self.batches.append(len(pixels))
        time.sleep(self.seconds)
        return pixels.reshape(len(pixels), -1) * 2


def test_a_lone_request_runs_at_once_without_waiting_for_company():
    batcher = DynamicBatcher(RecordingBackbone(), max_batch=8, wait_ms=500)
    start = time.perf_counter()
    result = batcher.submit(np.ones((2, 2), np.float32))
    assert time.perf_counter() - start < 0.25
    np.testing.assert_array_equal(result, [2, 2, 2, 2])


def test_concurrent_requests_share_forward_passes_and_get_their_own_results():
    backbone = RecordingBackbone(seconds_per_batch=0.05)
    batcher = DynamicBatcher(backbone, max_batch=16, wait_ms=20)
    results = {}

    def request(i):
        with batcher.announce():
            results[i] = batcher.submit(np.full((1, 1), i, np.float32))

    threads = [threading.Thread(target=request, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {i: float(v[0]) for i, v in results.items()} == {i: 2.0 * i for i in range(24)}
    assert sum(backbone.batches) == 24
    assert len(backbone.batches) < 24 and max(backbone.batches) <= 16


def test_a_failing_forward_pass_reaches_every_waiting_request():
    class Broken:
        def extract(self, pixels, *, batch_size):
            raise RuntimeError("out of memory")

    batcher = DynamicBatcher(Broken(), max_batch=4, wait_ms=1)
    try:
        batcher.submit(np.zeros((1,), np.float32))
    except RuntimeError as exc:
        assert "out of memory" in str(exc)
    else:
        raise AssertionError("the error was swallowed")
