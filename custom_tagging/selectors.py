"""Queries: the getters (one object by its key, a 404 when there is none) and the API's
lists, filters validated here, counts annotated in the query (one query per page, never one
per row)."""

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from custom_tagging import exceptions as errors
from custom_tagging.models import (
    Assignment,
    CustomTag,
    PredictionJob,
    TagVersion,
)
from custom_tagging.services.tags import tag_name_validate
from muses.collection.models import Image
from muses.db import any_of
from muses.jobs.services import job_get

POSITIVE, NEGATIVE = Assignment.Label.POSITIVE, Assignment.Label.NEGATIVE


def image_get(*, image_id: str) -> Image:
    image = Image.objects.filter(image_id=image_id).first()
    if image is None:
        raise errors.ImageNotFound(f"No image with image_id {image_id!r}.")
    return image


def tag_get(*, name: str) -> CustomTag:
    name = tag_name_validate(name=name)
    tag = CustomTag.objects.filter(name=name).first()
    if tag is None:
        raise errors.TagNotFound(f"No custom tag named {name!r}.")
    return tag


def version_get(*, tag: CustomTag, number: int) -> TagVersion:
    version = tag.versions.filter(number=number).first()
    if version is None:
        raise errors.VersionNotFound(f"Tag {tag.name!r} has no version {number}.")
    return version


def image_list() -> QuerySet[Image]:
    return Image.objects.order_by("-created", "-id")


def _with_counts(tags: QuerySet[CustomTag]) -> QuerySet[CustomTag]:
    active = TagVersion.objects.filter(tag=OuterRef("pk"), is_active=True).values("number")[:1]
    return tags.annotate(
        positive_count=Count("assignments", filter=Q(assignments__label=POSITIVE)),
        negative_count=Count("assignments", filter=Q(assignments__label=NEGATIVE)),
        active_number=Subquery(active),
    )


def tag_list() -> QuerySet[CustomTag]:
    """Tags by name, each with ``positive_count``, ``negative_count`` and ``active_number``."""
    return _with_counts(CustomTag.objects.order_by("name"))


def tag_with_counts(*, tag: CustomTag) -> CustomTag:
    """The tag again, annotated as in :func:`tag_list`."""
    return _with_counts(CustomTag.objects.filter(pk=tag.pk)).get()


def assignment_list(*, tag: CustomTag, label: str | None = None) -> QuerySet[Assignment]:
    rows = tag.assignments.select_related("image", "tag", "assigned_by").order_by("id")
    if label is None:
        return rows
    if label not in Assignment.Label.values:
        raise errors.InvalidQuery(f"label must be 'positive' or 'negative', not {label[:50]!r}.")
    return rows.filter(label=label)


def version_list(*, tag: CustomTag) -> QuerySet[TagVersion]:
    return tag.versions.order_by("-number")


def prediction_job_list() -> QuerySet[PredictionJob]:
    return PredictionJob.objects.order_by("-created", "-id")


def prediction_job_get(*, task_id: str) -> PredictionJob:
    """The library prediction with this task id (expired first if its worker is gone); a
    job of another kind is a 404 here."""
    job = job_get(task_id=task_id)
    if not isinstance(job, PredictionJob):
        raise errors.JobNotFound(f"No library prediction with task_id {task_id!r}.")
    return job


def unlabelled_image_ids(*, tag: CustomTag, image_pks: list[int]) -> dict[int, str]:
    """image pk -> image_id of those of the images that still exist and carry no label of
    the tag: one query for a handful of candidates, whatever the number of labels."""
    images = Image.objects.filter(any_of("pk", image_pks)).exclude(tag_assignments__tag=tag)
    return dict(images.values_list("pk", "image_id"))
