"""Near-duplicate signals and grouping (muses.vision.near_duplicate_signals)."""

import io

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps

from muses.vision.near_duplicate_signals import (
    Thresholds,
    connected_groups,
    hash_distances,
    near_duplicate_pairs,
    perceptual_hash,
)


def photo(seed: int, size=(96, 80)) -> PILImage.Image:
    """A picture with structure: random 6x5 blocks, smoothly upscaled."""
    blocks = np.random.default_rng(seed).integers(40, 255, (5, 6, 3), dtype=np.uint8)
    return PILImage.fromarray(blocks).resize(size, PILImage.BICUBIC)


def reencoded(picture: PILImage.Image, quality=50) -> PILImage.Image:
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=quality)
    return PILImage.open(io.BytesIO(out.getvalue()))


def test_a_reencoded_resized_or_letterboxed_copy_keeps_its_hash():
    original = perceptual_hash(photo(1))
    copies = [
        reencoded(photo(1)),
        photo(1).resize((48, 40)),
        ImageOps.expand(photo(1), border=(20, 30), fill=(0, 0, 0)),
    ]
    distances = hash_distances(original, np.array([perceptual_hash(c) for c in copies]))
    assert distances.max() <= 6
    assert hash_distances(original, np.array([perceptual_hash(photo(2))]))[0] > 12


def test_a_close_pair_with_agreeing_hashes_is_a_near_duplicate():
    rng = np.random.default_rng(0)
    features = rng.normal(0, 1, (20, 32)).astype(np.float32)
    features[1] = features[0] + rng.normal(0, 0.1, 32)
    hashes = rng.integers(-(2**62), 2**62, 20)
    hashes[1] = hashes[0] ^ 0b111
    assert [(i, j) for i, j, _ in near_duplicate_pairs(features, hashes)] == [(0, 1)]


def test_a_series_of_look_alikes_without_a_clear_nearest_is_not_grouped():
    rng = np.random.default_rng(1)
    features = rng.normal(0, 1, (30, 32)).astype(np.float32)
    centre = rng.normal(0, 1, 32)
    for k in range(5):  # five beads of one string: equally close to each other
        features[k] = centre + rng.normal(0, 0.3, 32)
    hashes = rng.integers(-(2**62), 2**62, 30)  # different photographs
    pairs = near_duplicate_pairs(features, hashes, thresholds=Thresholds(margin=0.3))
    assert not [p for p in pairs if p[0] < 5 and p[1] < 5]


def test_new_rows_are_paired_with_old_ones_only():
    rng = np.random.default_rng(2)
    features = rng.normal(0, 1, (10, 16)).astype(np.float32)
    features[9] = features[3] + rng.normal(0, 0.05, 16)
    features[5] = features[4] + rng.normal(0, 0.05, 16)
    hashes = rng.integers(-(2**62), 2**62, 10)
    pairs = near_duplicate_pairs(features, hashes, rows=np.array([9]))
    assert [(i, j) for i, j, _ in pairs] == [(3, 9)]


def test_a_pair_seen_from_one_side_only_is_found_in_either_row_order():
    # A blend of two pictures is the clear nearest of each, but itself has two equally near:
    # only the sources' rows see the pairs, whether they come before or after the blend.
    rng = np.random.default_rng(3)
    for blend_row, (a, b) in ((0, (1, 2)), (39, (37, 38))):
        features = rng.normal(0, 1, (40, 64)).astype(np.float32)
        features -= features.mean(axis=0)
        features[b] -= features[a] * (features[a] @ features[b]) / (features[a] @ features[a])
        features[b] *= np.linalg.norm(features[a]) / np.linalg.norm(features[b])
        features[blend_row] = (features[a] + features[b]) / 2
        hashes = rng.integers(-(2**62), 2**62, 40)  # different photographs
        expected = sorted((min(k, blend_row), max(k, blend_row)) for k in (a, b))
        found = [(i, j) for i, j, _ in near_duplicate_pairs(features, hashes)]
        assert found == expected, blend_row
        new_only = near_duplicate_pairs(features, hashes, rows=np.array([blend_row]))
        assert [(i, j) for i, j, _ in new_only] == expected, blend_row


def test_copies_of_copies_form_one_group():
    pairs = [(0, 3, 0.9), (3, 7, 0.8), (2, 5, 0.95)]
    assert connected_groups(8, pairs) == [[0, 3, 7], [2, 5]]
