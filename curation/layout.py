"""A 2-D map of the stored features: PCA to 50 dimensions, then t-SNE or UMAP; and new
images placed among the laid-out ones without recomputing the layout.

``bench/map_layout.py`` measures both methods here (neighbourhoods kept, classes kept
together, time); the shipped default is the one that measured better.
"""

from __future__ import annotations

import numpy as np

PCA_DIMENSIONS = 50
# t-SNE (scikit-learn, Barnes-Hut) measured better than UMAP here: see BENCHMARKS.md.
DEFAULT_METHOD = "tsne"
METHODS = ("tsne", "umap")
PLACE_NEIGHBOURS = 5
SEED = 0


def reduced(features: np.ndarray) -> np.ndarray:
    """Centred, unit-length features through PCA: cosine neighbourhoods, fewer dimensions."""
    centred = features - features.mean(axis=0)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    unit = centred / np.where(norms > 0, norms, 1.0)
    from sklearn.decomposition import PCA

    dimensions = min(PCA_DIMENSIONS, unit.shape[0] - 1, unit.shape[1])
    return PCA(dimensions, random_state=SEED).fit_transform(unit).astype(np.float32)


def layout(features: np.ndarray, *, method: str = DEFAULT_METHOD) -> np.ndarray:
    """(n, 2) positions scaled into [0, 1] x [0, 1]."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    features = np.asarray(features, np.float32)
    if len(features) < 3:
        return _scaled(np.random.default_rng(SEED).random((len(features), 2)))
    points = reduced(features)
    if method == "umap":
        import umap

        embedded = umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=SEED).fit_transform(points)
    else:
        from sklearn.manifold import TSNE

        perplexity = min(30.0, (len(points) - 1) / 3)
        embedded = TSNE(perplexity=perplexity, init="pca", random_state=SEED).fit_transform(points)
    return _scaled(embedded)


def _scaled(points: np.ndarray) -> np.ndarray:
    low, high = points.min(axis=0), points.max(axis=0)
    return ((points - low) / np.where(high > low, high - low, 1.0)).astype(np.float32)


def place(
    placed_features: np.ndarray,
    placed_xy: np.ndarray,
    new_features: np.ndarray,
    *,
    neighbours: int = PLACE_NEIGHBOURS,
) -> np.ndarray:
    """Positions for new images: the similarity-weighted mean position of their nearest laid-out
    images (cosine of features centred on the laid-out ones), so the map does not move."""
    center = placed_features.mean(axis=0)
    unit = _unit(placed_features - center)
    query = _unit(np.asarray(new_features, np.float32) - center)
    similarity = query @ unit.T
    k = min(neighbours, len(unit))
    nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    weights = np.maximum(np.take_along_axis(similarity, nearest, axis=1), 1e-3)
    positions = (placed_xy[nearest] * weights[..., None]).sum(axis=1) / weights.sum(axis=1)[:, None]
    return positions.astype(np.float32)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)
