"""Training a tag: its data checked and gathered, the job queued and run."""

import logging

import numpy as np
from django.conf import settings

from custom_tagging import exceptions as errors
from custom_tagging.learning import TagClassifier
from custom_tagging.models import (
    Assignment,
    CustomTag,
    TagVersion,
    TrainingJob,
)
from custom_tagging.services.features import backbone_get, vectors_lookup
from custom_tagging.services.tags import tag_counts
from custom_tagging.services.versions import LinearHead, version_create
from muses.collection.models import Image
from muses.jobs.services import job_progress
from muses.vision.feature_index.handle import feature_index
from muses.vision.store import (
    compatible_features,
    features_extract,
    images_missing_features,
)

logger = logging.getLogger(__name__)


def training_data_check(*, tag: CustomTag) -> dict[str, int]:
    counts = tag_counts(tag=tag)
    missing = [label for label, n in counts.items() if n == 0]
    if missing:
        raise errors.TrainingDataMissing(
            f"Tag {tag.name!r} has no {' and no '.join(missing)} images: assign at least one "
            "of each with /custom/assign/<image_id>/<positive|negative>/<tag>."
        )
    return counts


def tag_train(*, tag: CustomTag, job: TrainingJob | None = None) -> TagVersion:
    """Fit the tag on its assigned images' stored features, cross-validate, and make the
    result the new active version (atomically with the job's success)."""

    def progress(fraction: float) -> None:
        if job is not None:
            job_progress(model=TrainingJob, pk=job.pk, fraction=0.05 + 0.9 * fraction)

    features, labels, digest = training_data_get(tag=tag)
    progress(0.0)
    classifier = TagClassifier(target_precision=tag.target_precision).fit(
        features, labels, progress=progress
    )
    return version_create(tag=tag, head=LinearHead.of(classifier), weights_digest=digest, job=job)


def training_data_get(*, tag: CustomTag) -> tuple[np.ndarray, np.ndarray, str]:
    """(features, 0/1 labels, weights digest) of the tag's assigned images; features
    missing for imported images are computed first."""
    training_data_check(tag=tag)
    labels = dict(tag.assignments.values_list("image__image_id", "label"))
    index = feature_index()
    tagged = Image.objects.filter(tag_assignments__tag=tag)  # one join, not 10,000 ids
    found, features = vectors_lookup(index=index, image_ids=tagged)
    if len(found) < len(labels):
        missing = images_missing_features(settings.MUSES_BACKBONE)
        features_extract(images=missing.filter(tag_assignments__tag=tag), backbone=backbone_get())
        found, features = vectors_lookup(index=index, image_ids=tagged)
    y = np.array([labels[i] == Assignment.Label.POSITIVE for i in found], dtype=np.int8)
    if y.sum() == 0 or y.sum() == len(y):
        raise errors.TrainingDataMissing(
            f"Tag {tag.name!r} has no usable {'positive' if y.sum() == 0 else 'negative'} "
            "images: their features could not be computed."
        )
    return features, y, _weights_digest(tag)


def _weights_digest(tag: CustomTag) -> str:
    digests = (
        compatible_features(settings.MUSES_BACKBONE)
        .filter(image__tag_assignments__tag=tag)
        .values_list("weights_digest", flat=True)
    )
    return next(iter(digests[:1]), "")  # any row: first() would sort the whole join
