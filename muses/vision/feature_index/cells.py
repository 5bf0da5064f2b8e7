"""Coarse cells for similar-image search past exact-scan sizes (an inverted-file index).

An exact cosine pass over a million 1280-d float16 rows reads 2.5 GB per query (seconds
here). Instead the rows are grouped into about 4*sqrt(N) cells by k-means in a 64-d PCA
projection (the projection makes training and assigning a million rows take seconds, and
the final ranking is exact on the full vectors anyway), the index file is rewritten with
each cell's rows contiguous, and a query ranks exactly only the rows of the cells nearest
to it: the ``MUSES_SIMILAR_PROBE`` nearest, and more while they hold fewer rows than that
many average cells (a query among small cells would otherwise see too few candidates): a
few thousand rows, whatever N.

The cells nearest a query in the projection are re-ranked by the direction of each in
all dimensions (the normalised mean of the unit rows it was given when the rows were
partitioned): the projection drops what tells near cells apart, so a query's true cell
could rank far down (at 100k realistic rows, 8 of 1,000 queries kept fewer than half of
their ten at 16 cells; 1 when ranked in all dimensions).

Rows and queries are scaled to unit length before they are projected: search ranks by
cosine, and cells of the raw vectors put a query of small norm among cells far (in
angle) from its true neighbours (on real features, 7 % of them missed at 8 cells).

Rows appended later get their cell on the way in (one projection and one distance per
centroid), so the cells stay complete until the next rebuild or compaction regroups them.
The model lives beside the index as ``<name>.<uid>.cells.npz`` (tied to its index file).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROJECTED_DIM = 64
TRAIN_SAMPLE = 100_000
PCA_SAMPLE = 20_000
KMEANS_ITERATIONS = 25
ASSIGN_CHUNK = 50_000
# Cells re-ranked in all dimensions per query (or an eighth of them, if more): the true
# nearest lies well inside (at 100k realistic rows, the 128 nearest in the projection
# held every cell the full ranking put in the probe).
SHORTLIST = 256


@dataclass
class CellModel:
    mean: np.ndarray  # (dim,)
    projection: np.ndarray  # (dim, 64)
    centroids: np.ndarray  # (cells, 64)
    offsets: np.ndarray  # (cells + 1,): cell c holds rows offsets[c]:offsets[c+1] ...
    partitioned: int  # ... of the first `partitioned` rows; later rows carry their cell
    # Cells of unit vectors; False for a model written before they were (raw vectors).
    normalised: bool = True
    # (cells, dim): each cell's unit mean direction in all dimensions, set when the rows
    # are partitioned; None for a model written before (ranked in the projection).
    directions: np.ndarray | None = None

    @property
    def cells(self) -> int:
        return len(self.centroids)

    def project(self, vectors: np.ndarray) -> np.ndarray:
        points = np.asarray(vectors, np.float32)
        if self.normalised:
            points = unit_rows(points)
        return (points - self.mean) @ self.projection

    def assign(self, vectors: np.ndarray) -> np.ndarray:
        """The nearest centroid of each vector (in the projection)."""
        out = [self._nearest(block) for block in _blocks(vectors)]
        return np.concatenate(out) if out else np.zeros(0, np.int32)

    def partition(self, vectors: np.ndarray) -> np.ndarray:
        """assign(), and each cell's direction in all dimensions from the rows it got."""
        sums = np.zeros((self.cells, vectors.shape[1]), np.float64)
        out = []
        for block in _blocks(vectors):
            cells = self._nearest(block)
            by_cell = np.argsort(cells, kind="stable")
            held, firsts = np.unique(cells[by_cell], return_index=True)
            sums[held] += np.add.reduceat(unit_rows(block)[by_cell], firsts, axis=0)
            out.append(cells)
        self.directions = unit_rows(sums).astype(np.float32)
        return np.concatenate(out) if out else np.zeros(0, np.int32)

    def _nearest(self, block: np.ndarray) -> np.ndarray:
        points = self.project(block)
        distances = np.square(self.centroids).sum(axis=1)[None] - 2 * points @ self.centroids.T
        return np.argmin(distances, axis=1).astype(np.int32)

    def ranked(self, query: np.ndarray) -> np.ndarray:
        """Every cell, nearest to the query first: the nearest in the projection, a
        shortlist of them re-ranked by cosine to their directions in all dimensions (a
        model written before has none); cheap next to reading every direction per query."""
        point = self.project(query[None])[0]
        order = np.argsort(np.square(self.centroids - point).sum(axis=1))
        if self.directions is None:
            return order
        short = order[: max(SHORTLIST, self.cells // 8)]
        cosines = self.directions[short] @ np.asarray(query, np.float32)
        return np.concatenate([short[np.argsort(-cosines, kind="stable")], order[len(short) :]])

    def probe(self, query: np.ndarray, n: int) -> np.ndarray:
        """The cells to scan for the query, nearest first: the n nearest, then more until
        they hold at least as many rows as n average cells."""
        order = self.ranked(query)
        n = min(max(n, 1), self.cells)
        if not self.partitioned:
            return order[:n]
        held = np.cumsum(np.diff(self.offsets)[order])
        enough = n * self.partitioned / self.cells
        return order[: max(n, int(np.searchsorted(held, enough)) + 1)]

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            mean=self.mean,
            projection=self.projection,
            centroids=self.centroids,
            offsets=self.offsets,
            partitioned=np.array([self.partitioned]),
            normalised=np.array([self.normalised]),
            **({} if self.directions is None else {"directions": self.directions}),
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "CellModel":
        with np.load(path, allow_pickle=False) as data:
            return cls(
                mean=data["mean"],
                projection=data["projection"],
                centroids=data["centroids"],
                offsets=data["offsets"],
                partitioned=int(data["partitioned"][0]),
                normalised="normalised" in data and bool(data["normalised"][0]),
                directions=data["directions"] if "directions" in data else None,
            )


def _blocks(vectors: np.ndarray):
    for start in range(0, len(vectors), ASSIGN_CHUNK):
        yield np.asarray(vectors[start : start + ASSIGN_CHUNK], np.float32)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def cell_count(rows: int) -> int:
    return max(1, int(4 * np.sqrt(rows)))


def cells_train(matrix: np.ndarray, *, seed: int = 0, normalise: bool = True) -> CellModel:
    """PCA on a sample, then k-means on a larger sample in the projection, of unit vectors
    (normalise=False: of the raw vectors, as models were made before; for comparisons)."""
    from sklearn.cluster import KMeans

    scaled = unit_rows if normalise else (lambda vectors: vectors)
    rng = np.random.default_rng(seed)
    rows = len(matrix)
    sample = np.sort(rng.choice(rows, min(rows, PCA_SAMPLE), replace=False))
    X = scaled(np.asarray(matrix[sample], np.float32))
    mean = X.mean(axis=0)
    centred = X - mean
    _, vectors = np.linalg.eigh(centred.T @ centred)
    projection = np.ascontiguousarray(vectors[:, ::-1][:, :PROJECTED_DIM], dtype=np.float32)
    sample = np.sort(rng.choice(rows, min(rows, TRAIN_SAMPLE), replace=False))
    points = (scaled(np.asarray(matrix[sample], np.float32)) - mean) @ projection
    kmeans = KMeans(
        n_clusters=min(cell_count(rows), len(points)),
        # Random initial centres: k-means++ costs minutes for thousands of cells and
        # buys nothing here (the ranking inside the probed cells is exact anyway).
        init="random",
        n_init=1,
        max_iter=KMEANS_ITERATIONS,
        random_state=seed,
    ).fit(points)
    return CellModel(
        mean=mean.astype(np.float32),
        projection=projection,
        centroids=kmeans.cluster_centers_.astype(np.float32),
        offsets=np.zeros(0, np.int64),
        partitioned=0,
        normalised=normalise,
    )
