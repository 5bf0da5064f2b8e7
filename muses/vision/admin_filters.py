"""The image list's filters the vision app adds: images with features, and images in
near-duplicate groups."""

from django.conf import settings
from django.contrib import admin
from django.db.models import Exists, OuterRef

from muses.vision.models import DuplicateGroup, ImageFeature


def has_features():
    """Whether an image has a vector of the configured backbone (as an annotation)."""
    return Exists(
        ImageFeature.objects.filter(image=OuterRef("pk"), backbone=settings.MUSES_BACKBONE)
    )


class HasFeaturesFilter(admin.SimpleListFilter):
    title = "has features"
    parameter_name = "has_features"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(has_features())
        if self.value() == "no":
            return queryset.exclude(has_features())
        return queryset


class DuplicateGroupFilter(admin.SimpleListFilter):
    """Images in a near-duplicate group waiting for review, in any group, or in one group."""

    title = "near-duplicates"
    parameter_name = "near_duplicates"

    def lookups(self, request, model_admin):
        return [("open", "To review"), ("any", "In any group"), ("none", "None")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "open":
            return queryset.filter(duplicate_membership__group__state=DuplicateGroup.State.OPEN)
        if value == "any":
            return queryset.filter(duplicate_membership__isnull=False)
        if value == "none":
            return queryset.filter(duplicate_membership__isnull=True)
        if value and value.isdigit():
            return queryset.filter(duplicate_membership__group_id=int(value))
        return queryset
