"""Training a tag: its data checked and gathered, the job queued and run."""

import logging

import numpy as np
from django.conf import settings
from django.db import transaction

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
from muses.jobs.models import UNFINISHED_STATES
from muses.jobs.services import job_enqueue, job_expire_if_stale, job_progress, job_run
from muses.vision.feature_index.handle import feature_index
from muses.vision.store import (
    compatible_features,
    features_extract,
    images_missing_features,
)

logger = logging.getLogger(__name__)

TRAIN_TASK = "custom_tagging.tasks.tag_train_task"
TRAIN_HOOK = "custom_tagging.tasks.tag_train_hook"


def training_data_check(*, tag: CustomTag) -> dict[str, int]:
    counts = tag_counts(tag=tag)
    missing = [label for label, n in counts.items() if n == 0]
    if missing:
        raise errors.TrainingDataMissing(
            f"Tag {tag.name!r} has no {' and no '.join(missing)} images: assign at least one "
            "of each with /custom/assign/<image_id>/<positive|negative>/<tag>."
        )
    return counts


def tag_train_enqueue(*, tag: CustomTag, user=None) -> TrainingJob:
    """Create the job (visible in /status at once), then queue its django-q2 task."""
    training_data_check(tag=tag)
    with transaction.atomic():
        CustomTag.objects.select_for_update().filter(pk=tag.pk).first()
        running = tag.jobs.filter(state__in=UNFINISHED_STATES).first()
        if running is not None and job_expire_if_stale(running).state in UNFINISHED_STATES:
            raise errors.TrainingInProgress(
                f"A training of {tag.name!r} is already {running.state} "
                f"(task_id {running.task_id})."
            )
        job = TrainingJob.objects.create(tag=tag, tag_name=tag.name, requested_by=user)
    job_enqueue(job=job, func=TRAIN_TASK, hook=TRAIN_HOOK, task_name=f"train {tag.name}"[:100])
    job.refresh_from_db()
    return job


def training_job_run(*, job_pk: int) -> TrainingJob | None:
    """Run a queued training; any failure ends in state 'error' with its message and the
    tag's previous version stays active."""
    return job_run(model=TrainingJob, pk=job_pk, work=_training_work)


def _training_work(job: TrainingJob) -> None:
    if job.tag is None:
        raise errors.TagNotFound("The tag was reset before its training started.")
    tag_train(tag=job.tag, job=job)


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
