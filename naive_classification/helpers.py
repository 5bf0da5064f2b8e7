"""Helpers from the seed: set up a classifier, and classify image paths or items into an
OrderedDict of class -> probability, highest first (the mean over several images)."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np

from muses.collection.media import local_image_files
from naive_classification.muses_cnn import (
    MusesClassifier,
    configured_model_path,
    setup_classifier,
)
from naive_classification.persistence import resolve_model_path

__all__ = [
    "setup_classifier",
    "classifier_for",
    "predict_image_path_dict",
    "predict_items",
    "probabilities_dict",
]


@lru_cache(maxsize=4)
def _loaded(path: str, modified: float) -> MusesClassifier:
    # Keyed by modification time too, so a model saved again under the same name is reloaded.
    return setup_classifier(None, mode="load", model_path=path, progress=False)


def classifier_for(model_path: str | os.PathLike | None = None) -> MusesClassifier:
    """The classifier saved at ``model_path`` (default: the configured one), loaded once."""
    path = resolve_model_path(model_path or configured_model_path())
    return _loaded(str(path), path.stat().st_mtime)


def probabilities_dict(probabilities: np.ndarray, class_names: Sequence[str]) -> OrderedDict:
    """class -> probability, highest first."""
    order = np.argsort(-probabilities, kind="stable")
    return OrderedDict((class_names[i], float(probabilities[i])) for i in order)


def predict_image_path_dict(
    path_or_paths: str | os.PathLike | Iterable[str | os.PathLike],
    model_path: str | os.PathLike | None = None,
    *,
    classifier: MusesClassifier | None = None,
) -> OrderedDict:
    """Class probabilities of one image, or their mean over a list of images (each image's
    own probabilities are the mean over it and its mirror image: ``predict_new`` does that)."""
    classifier = classifier or classifier_for(model_path)
    single = isinstance(path_or_paths, (str, os.PathLike))
    paths = [path_or_paths] if single else list(path_or_paths)
    if not paths:
        raise ValueError("no image paths given")
    probabilities = np.atleast_2d(classifier.predict_new(paths)).mean(axis=0)
    return probabilities_dict(probabilities, classifier.class_names)


def item_images(items) -> list:
    """The images of one item or of several."""
    items = [items] if hasattr(items, "images") else list(items)
    return [image for item in items for image in item.images.order_by("id")]


def predict_items(
    items,
    model_path: str | os.PathLike | None = None,
    *,
    classifier: MusesClassifier | None = None,
) -> OrderedDict:
    """Class probabilities of an item's images, or of several items' images, averaged."""
    images = item_images(items)
    if not images:
        raise ValueError("the items have no images to classify")
    with local_image_files(images) as paths:
        return predict_image_path_dict(paths, model_path, classifier=classifier)
