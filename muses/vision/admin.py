"""Stored features in the admin: read-only, and a filter for images that have them."""

from django.conf import settings
from django.contrib import admin
from django.db.models import Exists, OuterRef

from muses.vision.models import ImageFeature


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


@admin.register(ImageFeature)
class ImageFeatureAdmin(admin.ModelAdmin):
    list_display = ("image", "backbone", "dim", "weights_digest", "created")
    list_filter = ("backbone",)
    search_fields = ("image__image_id",)
    list_select_related = ("image",)
    fields = ("image", "backbone", "weights_digest", "dim", "dtype", "created")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
