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
from muses.collection.decode import decode_image

AUTOTUNE = -1  # tf.data.AUTOTUNE, without importing TensorFlow here
# Augmentation strengths: small, because museum photographs are taken upright and centred.
FLIP = "horizontal"
ROTATION = 0.04  # fraction of a full turn: about +-14 degrees
ZOOM = 0.15
TRANSLATION = 0.10
# "mirror": the transfer phase trains on each image and its mirror image, fine-tuning sees
# random flips. "geometric" adds random rotation, zoom and translation; "photographic" adds
# what differs between museums' photography too: exposure, contrast, colour cast,
# black-and-white pictures, tighter framing. Left out of one museum, "mirror" carried best to
# it (bench/naive_lomo.py, BENCHMARKS.md): the random views teach the framing and bars of the
# training museums' pictures rather than the objects.
AUGMENTATIONS = ("mirror", "geometric", "photographic")
AUGMENTATION = "mirror"
BRIGHTNESS = 0.25  # fractions of the value range / of the factor's neutral value
CONTRAST = 0.3
SATURATION = 0.3
HUE = 0.03
GRAYSCALE = 0.2  # share of views turned grey
CROP_ZOOM = (-0.3, 0.1)  # RandomZoom's factor: negative zooms in (a random crop)
# Letterbox bars: rows and columns at the edge whose brightest pixel is below this are bars.
LETTERBOX_LEVEL = 24


class DatasetClassesMismatch(ValueError):
    """A dataset exported with other class definitions than the current ones."""


@dataclass
class SplitData:
    paths: list[str]
    labels: np.ndarray  # int32 class indices

    def __len__(self) -> int:
        return len(self.paths)


def load_pixels(path: str | Path, size: int, *, trim: bool = False) -> np.ndarray:
    """An image file as uint8 (size, size, 3): decoded upright RGB by the project's decoder,
    resized on its short side and centre-cropped so that nothing is stretched; with ``trim``
    its black letterbox bars are repainted in its own background colour first."""
    image = decode_image(Path(path)).image
    if trim:
        image = on_own_background(trim_letterbox(image), max(image.size))
    fitted = ImageOps.fit(image, (size, size), PILImage.BICUBIC)
    return np.asarray(fitted, dtype=np.uint8)


def trim_letterbox(image: PILImage.Image, level: int = LETTERBOX_LEVEL) -> PILImage.Image:
    """``image`` without the near-black bars along its edges (a collection padded its pictures
    to a square; another museum's photographs have none), or unchanged if it is all dark."""
    grey = np.asarray(image.convert("L"))
    rows = np.flatnonzero(grey.max(axis=1) >= level)
    columns = np.flatnonzero(grey.max(axis=0) >= level)
    if not len(rows) or not len(columns):
        return image
    return image.crop((columns[0], rows[0], columns[-1] + 1, rows[-1] + 1))


def on_own_background(image: PILImage.Image, side: int) -> PILImage.Image:
    """``image`` centred on a ``side`` square filled with the median colour of its edge
    pixels: square again without cropping the object, and without black bars."""
    rgb = image.convert("RGB")
    pixels = np.asarray(rgb)
    edges = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    colour = tuple(int(c) for c in np.median(edges, axis=0))
    canvas = PILImage.new("RGB", (side, side), colour)
    canvas.paste(rgb, ((side - rgb.width) // 2, (side - rgb.height) // 2))
    return canvas


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


def check_augmentation(augmentation: str) -> str:
    if augmentation not in AUGMENTATIONS:
        raise ValueError(
            f"augmentation must be one of {', '.join(AUGMENTATIONS)}, not {augmentation!r}"
        )
    return augmentation


def build_augmenter(seed: int | None = None, augmentation: str = AUGMENTATION):
    """Random flip ("mirror"); and rotation, zoom and translation ("geometric"); the
    "photographic" augmentation crops tighter and varies exposure and colour too. Keras
    preprocessing layers."""
    import keras

    layers = keras.layers
    if check_augmentation(augmentation) == "mirror":
        return keras.Sequential([layers.RandomFlip(FLIP, seed=seed)], name="mirror_augmentation")
    photographic = augmentation == "photographic"
    zoom = CROP_ZOOM if photographic else ZOOM
    steps = [
        layers.RandomFlip(FLIP, seed=seed),
        layers.RandomRotation(ROTATION, fill_mode="nearest", seed=seed),
        layers.RandomZoom(zoom, fill_mode="nearest", seed=seed),
        layers.RandomTranslation(TRANSLATION, TRANSLATION, fill_mode="nearest", seed=seed),
    ]
    if photographic:
        steps += [
            layers.RandomColorJitter(
                brightness_factor=BRIGHTNESS,
                contrast_factor=CONTRAST,
                saturation_factor=SATURATION,
                hue_factor=HUE,
                seed=seed,
            ),
            layers.RandomGrayscale(GRAYSCALE, seed=seed),
        ]
    return keras.Sequential(steps, name=f"{augmentation}_augmentation")


def image_stream(
    data: SplitData,
    size: int,
    batch_size: int,
    *,
    augmenter=None,
    shuffle: bool = False,
    weights: np.ndarray | None = None,
    seed: int | None = None,
    trim: bool = False,
):
    """A tf.data pipeline of (pixels float32 0..255, label[, sample weight]) batches, decoding
    files in parallel as it goes (letterbox bars cut off with ``trim``)."""
    import tensorflow as tf

    columns = (np.array(data.paths), data.labels)
    if weights is not None:
        columns = (*columns, weights.astype(np.float32))
    dataset = tf.data.Dataset.from_tensor_slices(columns)
    if shuffle:
        dataset = dataset.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(_decoder(size, trim), num_parallel_calls=AUTOTUNE).batch(batch_size)
    if augmenter is not None:
        dataset = dataset.map(
            lambda x, *rest: (augmenter(x, training=True), *rest), num_parallel_calls=AUTOTUNE
        )
    return dataset.prefetch(AUTOTUNE)


def _decoder(size: int, trim: bool = False):
    import tensorflow as tf

    def decode(path):
        return load_pixels(path.numpy().decode(), size, trim=trim).astype(np.float32)

    def mapped(path, *rest):
        pixels = tf.py_function(decode, [path], tf.float32)
        pixels.set_shape((size, size, 3))
        return (pixels, *rest)

    return mapped


def pixel_batches(paths: Sequence[str], size: int, batch_size: int, *, trim: bool = False):
    """(start index, float32 batch) over ``paths``, in order, decoding as it goes."""
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        pixels = [load_pixels(p, size, trim=trim) for p in chunk]
        yield start, np.stack(pixels).astype(np.float32)
