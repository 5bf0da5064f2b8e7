"""The synthetic feature rows of the scale benchmarks (bench/scale.py, bench/similar_search.py):
Gaussian-like clusters of sparse, non-negative vectors, deterministic per row number."""

import functools

import numpy as np

DIM = 1280
CLUSTERS = 2_000


@functools.cache  # 0.1 s each: a store timed beside compaction must not pay it
def centres() -> np.ndarray:
    """Cluster centres: sparse, non-negative, heavy-tailed, like pooled ReLU6 features."""
    rng = np.random.default_rng(1280)
    active = rng.random((CLUSTERS, DIM)) < 0.35
    return (rng.gamma(0.8, 0.5, (CLUSTERS, DIM)) * active).astype(np.float32)


def vectors_for(numbers: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Row n belongs to cluster n % CLUSTERS, with per-row noise; deterministic per row."""
    rng = np.random.default_rng(int(numbers[0]) + 7)
    base = table[numbers % CLUSTERS]
    noisy = base * rng.lognormal(0, 0.35, base.shape) + rng.normal(0, 0.08, base.shape)
    return np.clip(noisy, 0, 6).astype(np.float32)
