"""The vision app in the admin: stored features (read-only), its jobs, the near-duplicates
page, and the image list's filters for features and near-duplicates."""

from django.contrib import admin

from muses.admin_site import AdminPage, admin_page_register, image_admin_extend
from muses.jobs.admin_base import JobAdmin
from muses.vision.admin_filters import DuplicateGroupFilter, HasFeaturesFilter
from muses.vision.admin_views import duplicates_urls
from muses.vision.models import ImageFeature, VisionJob


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


admin.site.register(VisionJob, JobAdmin)

admin_page_register(
    AdminPage(
        app_label="vision",
        app_name="Vision (features)",
        name="Near-duplicates",
        url_name="vision_duplicates",
        urls=duplicates_urls,
    )
)

# After the curator class, before the file format, as the image list always showed them.
image_admin_extend(
    filters=[("curator_class", HasFeaturesFilter), ("HasFeaturesFilter", DuplicateGroupFilter)]
)
