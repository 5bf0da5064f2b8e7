"""Tags and their labelled examples (assignments): names validated, examples set one or many at
a time.
"""

import unicodedata

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from custom_tagging import exceptions as errors
from custom_tagging.models import (
    TAG_NAME_MAX_LENGTH,
    Assignment,
    CustomTag,
)
from muses.collection.models import Image
from muses.jobs.models import UNFINISHED_STATES, JobState

FORBIDDEN_TAG_CHARACTERS = "/,"


def tag_name_validate(*, name: str) -> str:
    """NFC-normalised name; any Unicode including inner spaces, but no '/' or ','."""
    name = unicodedata.normalize("NFC", name)
    if not name.strip():
        raise errors.InvalidTagName("A tag name cannot be empty.")
    if name != name.strip():
        raise errors.InvalidTagName("A tag name cannot start or end with whitespace.")
    if len(name) > TAG_NAME_MAX_LENGTH:
        raise errors.InvalidTagName(
            f"A tag name can have at most {TAG_NAME_MAX_LENGTH} characters; "
            f"this one has {len(name)}."
        )
    if any(c in FORBIDDEN_TAG_CHARACTERS for c in name):
        raise errors.InvalidTagName(
            "A tag name cannot contain '/' (it is one URL path segment) or ',' "
            "(it separates tags in /custom/predict_batch)."
        )
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise errors.InvalidTagName("A tag name cannot contain control characters.")
    invisible = [c for c in name if _is_invisible(c)]
    if invisible:
        raise errors.InvalidTagName(
            f"A tag name cannot contain invisible or direction-changing characters "
            f"(U+{ord(invisible[0]):04X}): two such names would look identical."
        )
    return name


# Joiners are part of how some scripts and emoji are written; other format characters
# (zero-width space, bidi overrides), line separators and unusual spaces only make
# look-alike names.
VISIBLE_FORMAT_CHARACTERS = {"\u200c", "\u200d"}


def _is_invisible(character: str) -> bool:
    category = unicodedata.category(character)
    if category == "Cf":
        return character not in VISIBLE_FORMAT_CHARACTERS
    return category in ("Zl", "Zp") or (category == "Zs" and character != " ")


def tag_get_or_create(*, name: str) -> CustomTag:
    tag, _ = CustomTag.objects.get_or_create(name=tag_name_validate(name=name))
    return tag


def tag_create(*, name: str, target_precision: float | None = None) -> CustomTag:
    name = tag_name_validate(name=name)
    with transaction.atomic():
        tag, created = CustomTag.objects.get_or_create(
            name=name, defaults={"target_precision": target_precision}
        )
    if not created:
        raise errors.TagExists(f"A custom tag named {name!r} already exists.")
    return tag


def tag_update(*, tag: CustomTag, target_precision: float | None) -> CustomTag:
    tag.target_precision = target_precision
    tag.save(update_fields=["target_precision"])
    return tag


def label_validate(*, label: str) -> str:
    if label not in Assignment.Label.values:
        raise errors.InvalidSampleType(
            f"The type must be 'positive' or 'negative', not {label[:50]!r}."
        )
    return label


def assignment_set(*, image: Image, tag_name: str, label: str, user=None) -> Assignment:
    """Mark an image as a positive or negative example; a new name creates the tag and
    re-assigning switches the label."""
    label = label_validate(label=label)
    tag = tag_get_or_create(name=tag_name)
    assignment, _ = Assignment.objects.update_or_create(
        tag=tag, image=image, defaults={"label": label, "assigned_by": user}
    )
    return assignment


def assignment_delete(*, tag: CustomTag, image: Image) -> None:
    deleted, _ = Assignment.objects.filter(tag=tag, image=image).delete()
    if not deleted:
        raise errors.ImageNotFound(f"Image {image.image_id!r} is not assigned to {tag.name!r}.")


def tag_counts(*, tag: CustomTag) -> dict[str, int]:
    counts = dict(tag.assignments.values_list("label").annotate(n=Count("id")))
    return {label: counts.get(label, 0) for label in Assignment.Label.values}


def tag_reset(*, tag: CustomTag) -> dict:
    """Forget the tag: its versions and assignments; unfinished trainings are cancelled."""
    summary = {
        "tag": tag.name,
        "versions_deleted": tag.versions.count(),
        "assignments_deleted": tag.assignments.count(),
    }
    with transaction.atomic():
        tag.jobs.filter(state__in=UNFINISHED_STATES).update(
            state=JobState.CANCELLED, finished=timezone.now(), error="The tag was reset."
        )
        tag.delete()
    return summary


def assignments_set_many(*, tag: CustomTag, images, label: str, user=None) -> int:
    """Mark every image of a queryset as a positive or negative example of the tag; one
    upsert per 500 images, re-labelling those already assigned."""
    label = label_validate(label=label)
    rows = [
        Assignment(tag=tag, image_id=pk, label=label, assigned_by=user)
        for pk in images.values_list("pk", flat=True)
    ]
    with transaction.atomic():
        Assignment.objects.bulk_create(
            rows,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["tag", "image"],
            update_fields=["label", "assigned_by", "updated"],
        )
    return len(rows)


def assignments_remove_many(*, tag: CustomTag, images) -> int:
    deleted, _ = Assignment.objects.filter(tag=tag, image__in=images.values("pk")).delete()
    return deleted
