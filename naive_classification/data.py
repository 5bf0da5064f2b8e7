"""The exported dataset as streaming Keras input: files are decoded batch by batch (never the
whole dataset in memory), augmented by preprocessing layers, and labelled by class index.

This is the modern form of the seed's data generator.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps

from exporters.dataset import SPLITS, read_manifest
from muses.vision.decode import decode_image

AUTOTUNE = -1  # tf.data.AUTOTUNE, without importing TensorFlow here
# Augmentation strengths: small, because museum photographs are taken upright and centred.
FLIP = "horizontal"
ROTATION = 0.04  # fraction of a full turn: about +-14 degrees
ZOOM = 0.15
TRANSLATION = 0.10


class DatasetClassesMismatch(ValueError):
    """A dataset exported with other class definitions than the current ones."""


@dataclass
class SplitData:
    paths: list[str]
    labels: np.ndarray  # int32 class indices

    def __len__(self) -> int:
        return len(self.paths)


def load_pixels(path: str | Path, size: int) -> np.ndarray:
    """An image file as uint8 (size, size, 3): decoded upright RGB by the project's decoder,
    resized on its short side and centre-cropped so that nothing is stretched."""
    image = decode_image(Path(path)).image
    fitted = ImageOps.fit(image, (size, size), PILImage.BICUBIC)
    return np.asarray(fitted, dtype=np.uint8)


def read_splits(root: Path, classes: dict[str, int]) -> dict[str, SplitData]:
    """The manifest's images by split, labelled with the current definitions' indices."""
    rows = read_manifest(root)
    unknown = sorted({row["class"] for row in rows} - set(classes))
    if unknown:
        raise DatasetClassesMismatch(
            f"The dataset in {root} has classes {unknown} that the definitions do not: "
            f"dataset classes {sorted({row['class'] for row in rows})}, "
            f"definitions {sorted(classes)}. Export the dataset again."
        )
    return {split: _split(root, rows, split, classes) for split in SPLITS}


def _split(root: Path, rows: list[dict], split: str, classes: dict[str, int]) -> SplitData:
    chosen = [row for row in rows if row["split"] == split]
    paths = [str(Path(root) / row["path"]) for row in chosen]
    labels = np.array([classes[row["class"]] for row in chosen], dtype=np.int32)
    return SplitData(paths, labels)


def balanced_class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """n / (k * count): each class weighs as much in the loss as any other, whatever its
    size. Classes with no training images get weight 1 (they never occur anyway)."""
    counts = Counter(int(label) for label in labels)
    present = len(counts) or 1
    total = len(labels)
    return {
        index: (total / (present * counts[index]) if counts[index] else 1.0)
        for index in range(num_classes)
    }


def sample_weights(labels: np.ndarray, class_weights: dict[int, float] | None) -> np.ndarray:
    if not class_weights:
        return np.ones(len(labels), np.float32)
    table = np.array([class_weights[i] for i in range(len(class_weights))], np.float32)
    return table[labels]


def build_augmenter(seed: int | None = None):
    """Random flip, rotation, zoom and translation, as Keras preprocessing layers."""
    import keras

    layers = keras.layers
    return keras.Sequential(
        [
            layers.RandomFlip(FLIP, seed=seed),
            layers.RandomRotation(ROTATION, fill_mode="nearest", seed=seed),
            layers.RandomZoom(ZOOM, fill_mode="nearest", seed=seed),
            layers.RandomTranslation(TRANSLATION, TRANSLATION, fill_mode="nearest", seed=seed),
        ],
        name="augmentation",
    )


def image_stream(
    data: SplitData,
    size: int,
    batch_size: int,
    *,
    augmenter=None,
    shuffle: bool = False,
    weights: np.ndarray | None = None,
    seed: int | None = None,
):
    """A tf.data pipeline of (pixels float32 0..255, label[, sample weight]) batches, decoding
    files in parallel as it goes."""
    import tensorflow as tf

    columns = (np.array(data.paths), data.labels)
    if weights is not None:
        columns = (*columns, weights.astype(np.float32))
    dataset = tf.data.Dataset.from_tensor_slices(columns)
    if shuffle:
        dataset = dataset.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(_decoder(size), num_parallel_calls=AUTOTUNE).batch(batch_size)
    if augmenter is not None:
        dataset = dataset.map(
            lambda x, *rest: (augmenter(x, training=True), *rest), num_parallel_calls=AUTOTUNE
        )
    return dataset.prefetch(AUTOTUNE)


def _decoder(size: int):
    import tensorflow as tf

    def decode(path):
        return load_pixels(path.numpy().decode(), size).astype(np.float32)

    def mapped(path, *rest):
        pixels = tf.py_function(decode, [path], tf.float32)
        pixels.set_shape((size, size, 3))
        return (pixels, *rest)

    return mapped


def pixel_batches(paths: Sequence[str], size: int, batch_size: int):
    """(start index, float32 batch) over ``paths``, in order, decoding as it goes."""
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        yield start, np.stack([load_pixels(p, size) for p in chunk]).astype(np.float32)
