"""Trained versions of a tag: stored (numbered, activated), looked up and rolled back."""

from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Max

from custom_tagging import exceptions as errors
from custom_tagging.learning import TagClassifier
from custom_tagging.models import (
    COEF_DTYPE,
    CustomTag,
    TagVersion,
    TrainingJob,
)
from custom_tagging.selectors import version_get
from muses.jobs.services import job_succeed


@dataclass(frozen=True)
class LinearHead:
    """What a version stores of a fitted classifier: a linear head on the raw features."""

    coef: np.ndarray
    intercept: float
    threshold: float
    metrics: dict
    positives: int
    negatives: int

    @classmethod
    def of(cls, classifier: TagClassifier) -> "LinearHead":
        return cls(
            coef=classifier.coef_,
            intercept=classifier.intercept_,
            threshold=classifier.threshold_,
            metrics=classifier.metrics_,
            positives=classifier.positives_,
            negatives=classifier.negatives_,
        )


def version_create(
    *,
    tag: CustomTag,
    head: LinearHead,
    weights_digest: str,
    backbone: str | None = None,
    job: TrainingJob | None = None,
    activate: bool = True,
) -> TagVersion:
    """Store a head as the tag's next version (numbered under a lock on the tag) and
    activate it; with a job, the job's success is part of the same transaction (a
    cancelled job leaves nothing). The backbone defaults to the configured one."""
    with transaction.atomic():
        if CustomTag.objects.select_for_update().filter(pk=tag.pk).first() is None:
            raise errors.TagNotFound(f"The tag {tag.name!r} was reset during training.")
        number = (tag.versions.aggregate(m=Max("number"))["m"] or 0) + 1
        if activate:
            tag.versions.filter(is_active=True).update(is_active=False)
        version = TagVersion.objects.create(
            tag=tag,
            number=number,
            is_active=activate,
            backbone=backbone or settings.MUSES_BACKBONE,
            weights_digest=weights_digest,
            feature_dim=len(head.coef),
            coef=np.asarray(head.coef).astype(COEF_DTYPE).tobytes(),
            intercept=head.intercept,
            threshold=head.threshold,
            metrics=head.metrics,
            positives=head.positives,
            negatives=head.negatives,
        )
        if job is not None and not job_succeed(model=TrainingJob, pk=job.pk, version=version):
            raise errors.JobCancelled()
    return version


def version_activate(*, tag: CustomTag, number: int) -> TagVersion:
    """Roll back (or forward) to another version of the tag."""
    version = version_get(tag=tag, number=number)
    if version.backbone != settings.MUSES_BACKBONE:
        raise errors.VersionIncompatible(
            f"Version {number} of {tag.name!r} was trained on {version.backbone!r} features; "
            f"the configured backbone is {settings.MUSES_BACKBONE!r}."
        )
    with transaction.atomic():
        tag.versions.filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
        TagVersion.objects.filter(pk=version.pk).update(is_active=True)
    version.refresh_from_db()
    return version
