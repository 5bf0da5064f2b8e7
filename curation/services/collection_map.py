"""The map of the collection: every image with features laid out in 2-D, new ones placed
among their neighbours, coloured by a class or a tag score, and a lasso selection's bulk
action."""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.db import transaction

from curation import exceptions as errors
from curation import layout
from curation.models import MapPoint
from custom_tagging.models import CustomTag
from custom_tagging.services.tags import assignments_set_many, tag_get_or_create
from exporters.naive.muses_exporter_plugin import label_image
from exporters.naive.muses_exporter_plugin import labeller as naive_labeller
from muses.collection.models import Image
from muses.vision.feature_index.handle import feature_index
from naive_classification import definitions
from naive_classification import services as naive


def _features_of_all() -> tuple[np.ndarray, np.ndarray]:
    image_pks, _, matrix = feature_index(settings.MUSES_BACKBONE).library()
    return np.asarray(image_pks, np.int64), matrix


def map_layout_compute(*, method: str | None = None, on_progress=None) -> int:
    """Lay out every image that has features (replacing the old map); returns the count.
    ``on_progress(fraction)`` is called between the steps (a job's cancel point)."""
    progress = on_progress or (lambda fraction: None)
    pks, matrix = _features_of_all()
    if not len(pks):
        raise errors.FeaturesMissing(
            "No image has features yet: run `manage.py muses_extract_features` first."
        )
    progress(0.1)
    xy = layout.layout(matrix, method=method or layout.DEFAULT_METHOD)
    progress(0.9)
    rows = [MapPoint(image_id=int(pk), x=float(x), y=float(y)) for pk, (x, y) in zip(pks, xy)]
    with transaction.atomic():
        MapPoint.objects.all().delete()
        MapPoint.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def map_points_place_new() -> int:
    """Place images that got features since the layout among their nearest laid-out
    neighbours; the laid-out points do not move."""
    pks, matrix = _features_of_all()
    positions = dict(
        (pk, (x, y)) for pk, x, y in MapPoint.objects.values_list("image_id", "x", "y")
    )
    if not positions:
        return 0
    have = np.array([int(pk) in positions for pk in pks], dtype=bool)
    if have.all():
        return 0
    placed_xy = np.array([positions[int(pk)] for pk in pks[have]], np.float32)
    new_xy = layout.place(matrix[have], placed_xy, matrix[~have])
    rows = [
        MapPoint(image_id=int(pk), x=float(x), y=float(y), placed=True)
        for pk, (x, y) in zip(pks[~have], new_xy)
    ]
    MapPoint.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
    return len(rows)


MAP_COLOURINGS = ("naive", "predicted", "curator")


def map_points(*, colour_by: str = "naive", tag: CustomTag | None = None) -> dict:
    """The map as columns (JSON-ready): image ids and pks, positions, a colour value per point
    (a class name, or a tag score 0..1), titles and file URLs."""
    map_points_place_new()
    rows = list(MapPoint.objects.select_related("image__item").order_by("image_id"))
    images = [row.image for row in rows]
    if tag is not None:
        values = _tag_scores(tag, images)
    elif colour_by == "naive":
        values = _naive_classes(images)
    elif colour_by == "predicted":
        values = [image.predicted_class for image in images]
    else:
        values = [image.curator_class for image in images]
    return {
        "ids": [image.image_id for image in images],
        "pks": [image.pk for image in images],
        "x": [round(row.x, 5) for row in rows],
        "y": [round(row.y, 5) for row in rows],
        "values": values,
        "titles": [image.item.title if image.item else image.image_id for image in images],
        "urls": [image.file.url for image in images],
    }


def _naive_classes(images) -> list[str]:
    naive_words = naive_labeller()
    return [
        (label_image(image, naive_words).class_name or "")
        if image.item or image.curator_class
        else ""
        for image in images
    ]


def _tag_scores(tag: CustomTag, images) -> list[float | None]:
    version = tag.active_version()
    if version is None:
        raise errors.TooFewLabels(f"Tag {tag.name!r} is not trained yet: train it to colour by it.")
    found, X = feature_index(settings.MUSES_BACKBONE).vectors_of([i.image_id for i in images])
    if not found:
        return [None] * len(images)
    scores = 1.0 / (1.0 + np.exp(-(X @ version.coef_array() + version.intercept)))
    by_id = dict(zip(found, scores))
    return [round(float(by_id[i.image_id]), 4) if i.image_id in by_id else None for i in images]


MAP_ACTIONS = ("positive", "negative", "curator_class")


def map_selection_apply(
    *, image_ids: list[str], action: str, tag_name: str = "", class_name: str = "", user=None
) -> int:
    """A lasso selection's bulk action: mark positive / negative for a tag, or set the curator
    class (an empty class clears it)."""
    if action not in MAP_ACTIONS:
        raise errors.InvalidFix(f"The action must be one of {', '.join(MAP_ACTIONS)}.")
    images = Image.objects.filter(image_id__in=image_ids)
    if not images.exists():
        raise errors.InvalidFix("The selection holds no stored image.")
    if action == "curator_class":
        if class_name and class_name not in definitions.classes:
            raise errors.InvalidFix(f"{class_name[:100]!r} is not a class of the naive classifier.")
        return naive.curator_class_set(images=images, class_name=class_name)
    tag = tag_get_or_create(name=tag_name)
    return assignments_set_many(tag=tag, images=images, label=action, user=user)
