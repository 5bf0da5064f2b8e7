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


class ConcurrencyRecorder(RecordingBackbone):
    """Also records how many forward passes ran at the same time, at most."""

    def __init__(self, seconds_per_batch):
        super().__init__(seconds_per_batch)
        self.running = self.most = 0
        self.lock = threading.Lock()

    def extract(self, pixels, *, batch_size):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return super().extract(pixels, batch_size=batch_size)
        finally:
            with self.lock:
                self.running -= 1


def fire(batcher, count):
    results = {}

    def request(i):
        results[i] = float(batcher.submit(np.full((1,), i, np.float32))[0])

    threads = [threading.Thread(target=request, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_streams_run_two_half_full_batches_side_by_side():
    backbone = ConcurrencyRecorder(seconds_per_batch=0.2)
    batcher = DynamicBatcher(backbone, max_batch=8, wait_ms=1, streams=2)
    assert fire(batcher, 24) == {i: 2.0 * i for i in range(24)}
    assert backbone.most == 2
    assert max(backbone.batches) <= 8


def test_a_second_stream_does_not_start_a_tiny_batch_beside_a_running_one():
    backbone = ConcurrencyRecorder(seconds_per_batch=0.2)
    batcher = DynamicBatcher(backbone, max_batch=16, wait_ms=1, streams=2)
    first = threading.Thread(target=fire, args=(batcher, 1))
    first.start()
    time.sleep(0.05)  # the first request's batch is running now
    assert fire(batcher, 3) == {0: 0.0, 1: 2.0, 2: 4.0}
    first.join()
    assert backbone.most == 1 and sum(backbone.batches) == 4
