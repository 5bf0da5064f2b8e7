"""The signals of near-duplicate images and the grouping of pairs: pure functions of pixels
and features, no database (:mod:`muses.vision.near_duplicates` finds, stores and decides the
groups of the stored images).

Near-duplicate images: the same photograph re-encoded, resized, cropped or letterboxed, and
the same object photographed twice.

Two signals, both cheap once stored: the cosine similarity of the backbone features (robust to
crops, rotation and a second photograph of the object) and a perceptual hash of the picture
with its black borders trimmed (a DCT hash: near-identical for re-encodes and resizes of one
photograph, whatever the content). A pair is a near-duplicate when its features are almost the
same, or when they are close and the hashes agree. Pairs are joined into groups (connected
components), so a copy of a copy lands in the same group.
"""

from __future__ import annotations

from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps

# Two rules, either suffices (cosines of centred features, see ``normalised``):
# - the same photograph: perceptual hashes at most HASH_DISTANCE bits apart (of 64; unrelated
#   pictures differ by 32 on average, 14 at the closest 0.1 %) and features not unrelated;
# - a crop, a rotation, a second photograph: each image's nearest neighbour, close, and
#   clearly closer than anything else (by MARGIN), so a series of look-alike objects (beads,
#   coins of one mint) is not one group.
# Chosen on planted copies of one draw of 200 images (bench/near_duplicates.py --seed 1
# --sweep) and reported on another (--seed 0).
HASH_DISTANCE = 6
SIMILARITY_WITH_HASH = 0.75
SIMILARITY = 0.6
MARGIN = 0.05
# Pixels darker than this count as border when trimming letterboxing.
BORDER_LEVEL = 24
CHUNK_ROWS = 1024


@dataclass(frozen=True)
class Thresholds:
    similarity: float = SIMILARITY
    margin: float = MARGIN
    similarity_with_hash: float = SIMILARITY_WITH_HASH
    hash_distance: int = HASH_DISTANCE


def trim_borders(image: PILImage.Image) -> PILImage.Image:
    """The picture without the black (or near-black) bars around it."""
    mask = ImageOps.grayscale(image).point(lambda level: 255 if level > BORDER_LEVEL else 0)
    box = mask.getbbox()
    return image.crop(box) if box else image


def perceptual_hash(image: PILImage.Image) -> int:
    """64-bit DCT hash of the border-trimmed picture, as a signed integer (a database bigint)."""
    value = int(str(imagehash.phash(trim_borders(image.convert("RGB")))), 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def hash_distances(one: int, many: np.ndarray) -> np.ndarray:
    """Differing bits between one hash and an array of hashes (int64)."""
    xor = np.bitwise_xor(np.asarray(many, np.int64), np.int64(one)).view(np.uint64)
    as_bytes = xor.reshape(-1, 1).view(np.uint8)
    return np.unpackbits(as_bytes, axis=1).sum(axis=1)


def normalised(features: np.ndarray, center: np.ndarray | None = None) -> np.ndarray:
    """Unit vectors of the features minus their mean: pooled ReLU features all point into
    one orthant, so raw cosines of unrelated pictures are high; centred, they spread out."""
    features = np.asarray(features, np.float32)
    features = features - (features.mean(axis=0) if center is None else center)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.where(norms > 0, norms, 1.0)


def near_duplicate_pairs(
    features: np.ndarray,
    hashes: np.ndarray,
    *,
    thresholds: Thresholds = Thresholds(),
    rows: np.ndarray | None = None,
    center: np.ndarray | None = None,
) -> list[tuple[int, int, float]]:
    """(i, j, cosine similarity of centred features) with i < j for every near-duplicate
    pair; with ``rows``, only pairs that involve those rows (new images against everything).
    ``center`` defaults to the mean of ``features``."""
    unit = normalised(features, center)
    hashes = np.asarray(hashes, np.int64)
    wanted = np.arange(len(unit)) if rows is None else np.asarray(rows, np.int64)
    pairs: set[tuple[int, int, float]] = set()
    for start in range(0, len(wanted), CHUNK_ROWS):
        chunk = wanted[start : start + CHUNK_ROWS]
        similarity = unit[chunk] @ unit.T
        similarity[np.arange(len(chunk)), chunk] = -np.inf  # an image is not its own pair
        for k, i in enumerate(chunk):
            pairs.update(_pairs_of(int(i), similarity[k], hashes, thresholds))
    if rows is not None:
        # A new image can be the clear nearest neighbour of an old one without the reverse.
        pairs.update(_reverse_pairs(unit, hashes, wanted, thresholds))
    return sorted(pairs)


def _pairs_of(i: int, similarity: np.ndarray, hashes: np.ndarray, thresholds: Thresholds):
    found = []
    close = np.flatnonzero(similarity >= thresholds.similarity_with_hash)
    if len(close):
        same_photo = hash_distances(int(hashes[i]), hashes[close]) <= thresholds.hash_distance
        found = [int(j) for j in close[same_photo]]
    if len(similarity) > 2:
        second, best = np.argpartition(similarity, -2)[-2:]
        clear = similarity[best] - similarity[second] >= thresholds.margin
        if similarity[best] >= thresholds.similarity and clear:
            found.append(int(best))
    return [(min(i, j), max(i, j), round(float(similarity[j]), 4)) for j in found]


def _reverse_pairs(unit, hashes, rows, thresholds: Thresholds):
    """Pairs (old, new) where the new row is the old row's clear nearest neighbour."""
    new = set(int(r) for r in rows)
    candidates = {
        j for i in rows for j in np.flatnonzero(unit @ unit[i] >= thresholds.similarity)
    } - new
    found = set()
    for j in candidates:
        similarity = unit @ unit[j]
        similarity[j] = -np.inf
        for i, k, value in _pairs_of(j, similarity, hashes, thresholds):
            if i in new or k in new:
                found.add((i, k, value))
    return found


def connected_groups(count: int, pairs: list[tuple[int, int, float]]) -> list[list[int]]:
    """Groups of two or more indices joined by pairs (union-find), each sorted, in order of
    their smallest index."""
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j, _ in pairs:
        parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i, j, _ in pairs:
        for index in (i, j):
            groups.setdefault(root(index), []).append(index)
    return sorted((sorted(set(members)) for members in groups.values()), key=lambda g: g[0])
