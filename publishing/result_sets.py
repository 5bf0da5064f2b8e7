"""The image sets a result manifest shows: a tag's positive examples, a tag's top
predictions over the library, the images of a naive class. Each bounded by ``n``."""

import numpy as np
from django.conf import settings
from django.db.models import F

from custom_tagging import exceptions as errors
from custom_tagging.models import Assignment, CustomTag
from custom_tagging.services.predictions import models_for_tag
from muses.collection.models import Image
from muses.vision.feature_index.errors import IndexUnavailable
from muses.vision.feature_index.handle import feature_index
from publishing.exceptions import ResultSetEmpty
from publishing.manifests import ResultSet


def tag_positives_result(*, tag: CustomTag, n: int) -> ResultSet:
    """The images people marked as positive examples of the tag, oldest mark first."""
    marks = Assignment.objects.filter(tag=tag, label=Assignment.Label.POSITIVE)
    pks = list(marks.order_by("created", "id").values_list("image_id", flat=True)[:n])
    images = _images(pks)
    if not images:
        raise ResultSetEmpty(f"No image is marked as a positive example of {tag.name!r}.")
    return ResultSet(
        label=f"{tag.name}: positive examples",
        summary=f"The {len(images)} images marked as showing {tag.name!r} (first {n}).",
        images=images,
    )


def tag_predictions_result(*, tag: CustomTag, n: int) -> ResultSet:
    """The n images of the library the tag's active version scores highest, of those it
    predicts positive (scored from the shared feature index, at most
    MUSES_SUGGEST_MAX_ROWS rows, as suggestions are)."""
    models = models_for_tag(name=tag.name)
    pks, scores = _top_scored(models, n)
    images = _images(pks.tolist())
    if not images:
        raise ResultSetEmpty(f"No stored image is predicted to show {tag.name!r}.")
    by_pk = dict(zip(pks.tolist(), scores.tolist(), strict=True))
    return ResultSet(
        label=f"{tag.name}: top predictions",
        summary=(
            f"The {len(images)} images the tag {tag.name!r} (version {models.versions[0]}) "
            f"scores highest, of those it predicts (threshold {models.thresholds[0]:.4f})."
        ),
        images=images,
        scores={image.pk: by_pk[image.pk] for image in images},
    )


def naive_class_result(*, name: str, n: int) -> ResultSet:
    """The n images `muses_classify` put in the class, the surest first."""
    images = list(
        Image.objects.filter(predicted_class=name)
        .select_related("item")
        .order_by(F("predicted_probability").desc(nulls_last=True), "id")[:n]
    )
    if not images:
        raise ResultSetEmpty(f"No image is classified as {name!r} (run muses_classify).")
    return ResultSet(
        label=f"{name}: naive classification",
        summary=f"The {len(images)} images the naive classifier is surest show {name!r}.",
        images=images,
        scores={image.pk: image.predicted_probability or 0.0 for image in images},
    )


def _images(pks: list[int]) -> list[Image]:
    """The images of the pks still stored, in the pks' order."""
    found = Image.objects.select_related("item").in_bulk(pks)
    return [found[pk] for pk in pks if pk in found]


def _top_scored(models, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(image pks, scores) of the n live rows scored highest at or above the threshold,
    highest first."""
    threshold = models.thresholds[0]
    best_pks, best_scores = [np.zeros(0, np.int64)], [np.zeros(0, np.float32)]
    try:
        for image_pks, vectors, live in feature_index().sample_blocks(
            settings.MUSES_SUGGEST_MAX_ROWS
        ):
            scores = models.scores(vectors)[:, 0]
            keep = np.flatnonzero(live & (scores >= threshold))
            top = keep[np.argsort(-scores[keep], kind="stable")[:n]]
            best_pks.append(image_pks[top])
            best_scores.append(scores[top])
    except IndexUnavailable as exc:
        raise errors.FeaturesUnavailable(str(exc)) from None
    pks, scores = np.concatenate(best_pks), np.concatenate(best_scores)
    order = np.argsort(-scores, kind="stable")[:n]
    return pks[order], scores[order]
