"""How much of the true neighbourhood similar-image search finds on this library: a sample
of the index's own live rows asked as queries, the probed cells' answers against one exact
pass over every row (each query's own row left out of both). What `muses_index check`
reports, so a museum sees the recall of MUSES_SIMILAR_PROBE on its own data."""

from dataclasses import dataclass

import numpy as np
from django.conf import settings

from muses.vision.feature_index.file import FeatureIndexFile
from muses.vision.feature_index.search import SEARCH_CHUNK, file_nearest
from muses.vision.feature_index.space import index_directory, index_name

K = 10


@dataclass
class Recall:
    queries: int
    mean: float  # recall@10, averaged over the queries
    worst: float  # of the worst query
    below_half: int  # queries that found fewer than half of their ten


def sampled_recall(
    handle: FeatureIndexFile, *, probe: int, sample: int = 100, seed: int = 0
) -> Recall:
    rows = handle.rows()[: handle.count]
    live = np.flatnonzero(rows["dead"] == 0)
    picked = np.sort(np.random.default_rng(seed).choice(live, min(sample, len(live)), False))
    if not len(picked):
        return Recall(0, 1.0, 1.0, 0)
    queries = handle.vectors(picked)
    truth = _exact_neighbours(handle, queries, own=rows["image"][picked])
    scores = []
    for query, own, true in zip(queries, rows["image"][picked], truth):
        found = [pk for pk, _ in file_nearest(handle, query, K + 1, probe=probe) if pk != own]
        scores.append(len(set(found[:K]) & set(true)) / max(len(true), 1))
    scores = np.array(scores)
    return Recall(len(scores), float(scores.mean()), float(scores.min()), int((scores < 0.5).sum()))


def _exact_neighbours(handle: FeatureIndexFile, queries: np.ndarray, own: np.ndarray):
    """Image pks of each query's K nearest live rows (its own image excluded) by cosine:
    one pass over the file for all queries at once."""
    units = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-30)
    best_pks = np.zeros((len(queries), 0), np.int64)
    best = np.zeros((len(queries), 0), np.float32)
    for _, rows, vectors in handle.chunks(SEARCH_CHUNK):
        norms = np.where(rows["norm"] > 0, rows["norm"], 1.0)
        sims = (units @ vectors.T) / norms[None]
        sims[:, rows["dead"] != 0] = -np.inf
        sims[own[:, None] == rows["image"][None]] = -np.inf
        pks = np.broadcast_to(rows["image"], sims.shape)
        sims, pks = np.hstack([best, sims]), np.hstack([best_pks, pks])
        keep = np.argsort(-sims, axis=1, kind="stable")[:, :K]
        best, best_pks = np.take_along_axis(sims, keep, 1), np.take_along_axis(pks, keep, 1)
    return [p[np.isfinite(s)].tolist() for p, s in zip(best_pks, best)]


def index_recall(*, backbone: str, sample: int, family: str | None = None) -> Recall | None:
    """The recall of this machine's index of a feature space at MUSES_SIMILAR_PROBE, on
    `sample` of its rows; None when it has no cells (every search is exact then)."""
    handle = FeatureIndexFile(index_directory(), index_name(backbone, family))
    try:
        if handle.cells is None:
            return None
        return sampled_recall(handle, probe=settings.MUSES_SIMILAR_PROBE, sample=sample)
    finally:
        handle.close()
