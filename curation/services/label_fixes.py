"""One-click fixes of likely label errors: each is one curator's click on one image."""

from __future__ import annotations

from curation import exceptions as errors
from custom_tagging.models import Assignment, CustomTag
from custom_tagging.services.tags import assignment_delete, assignment_set
from muses.collection.models import Image
from naive_classification import definitions
from naive_classification import services as naive

TAG_FIXES = ("flip", "remove")


def naive_label_fix(*, image: Image, class_name: str) -> Image:
    """Give the image a curator's class (the next export and training use it); a curator
    confirming the given class sets that class, so the record is not listed again."""
    if class_name not in definitions.classes:
        raise errors.InvalidFix(f"{class_name[:100]!r} is not a class of the naive classifier.")
    naive.curator_class_set(images=Image.objects.filter(pk=image.pk), class_name=class_name)
    image.refresh_from_db(fields=["curator_class"])
    return image


def tag_label_fix(*, tag: CustomTag, image: Image, action: str, user=None) -> Assignment | None:
    """Flip the image's label for the tag, or remove it from the tag."""
    if action not in TAG_FIXES:
        raise errors.InvalidFix(f"The fix must be 'flip' or 'remove', not {action[:50]!r}.")
    assignment = Assignment.objects.filter(tag=tag, image=image).first()
    if assignment is None:
        raise errors.InvalidFix(f"Image {image.image_id!r} is not assigned to {tag.name!r}.")
    if action == "remove":
        assignment_delete(tag=tag, image=image)
        return None
    flipped = (
        Assignment.Label.NEGATIVE
        if assignment.label == Assignment.Label.POSITIVE
        else Assignment.Label.POSITIVE
    )
    return assignment_set(image=image, tag_name=tag.name, label=flipped, user=user)
