"""Custom tags in the admin: the tag list and page, its jobs and assignments, and what tags
add to the image list (custom_tagging.admin_image_list)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, OuterRef, Prefetch, Q, Subquery
from django.utils.html import format_html

from custom_tagging.admin_forms import CustomTagForm
from custom_tagging.admin_image_list import (
    TAG_ACTIONS,
    TagAssignmentFilter,
    tag_labels,
    tag_scores,
    with_tag_assignments,
)
from custom_tagging.admin_views import CustomTagPageViews
from custom_tagging.models import Assignment, CustomTag, PredictionJob, TagVersion, TrainingJob
from custom_tagging.services.tags import tag_reset
from muses.admin_site import image_admin_extend
from muses.jobs.admin_base import JobAdmin

image_admin_extend(
    columns=[("predicted", tag_labels)],
    filters=[("curator_class", TagAssignmentFilter)],
    actions=TAG_ACTIONS,
    panels=[("Custom tags", (tag_scores,))],
    queryset=with_tag_assignments,
)


def _latest_job_state():
    jobs = TrainingJob.objects.filter(tag=OuterRef("pk")).order_by("-created", "-id")
    return Subquery(jobs.values("state")[:1])


@admin.register(CustomTag)
class CustomTagAdmin(CustomTagPageViews, admin.ModelAdmin):
    form = CustomTagForm
    list_display = (
        "name",
        "positives",
        "negatives",
        "active",
        "precision",
        "recall",
        "average_precision",
        "threshold",
        "last_training",
    )
    search_fields = ("name",)
    change_form_template = "admin/custom_tagging/customtag/change_form.html"

    def get_queryset(self, request):
        active = TagVersion.objects.filter(is_active=True).defer("coef")
        return (
            super()
            .get_queryset(request)
            .annotate(
                positive_count=Count("assignments", filter=Q(assignments__label="positive")),
                negative_count=Count("assignments", filter=Q(assignments__label="negative")),
                last_job_state=_latest_job_state(),
            )
            .prefetch_related(Prefetch("versions", queryset=active, to_attr="active_versions"))
        )

    @staticmethod
    def _active(obj: CustomTag) -> TagVersion | None:
        versions = getattr(obj, "active_versions", None)
        return versions[0] if versions else None

    @admin.display(description="positives", ordering="positive_count")
    def positives(self, obj):
        return obj.positive_count

    @admin.display(description="negatives", ordering="negative_count")
    def negatives(self, obj):
        return obj.negative_count

    @admin.display(description="active")
    def active(self, obj):
        version = self._active(obj)
        return f"v{version.number}" if version else "—"

    def _metric(self, obj, name: str) -> str:
        version = self._active(obj)
        value = version.metrics.get(name) if version else None
        return "—" if value is None else f"{value:.3f}"

    @admin.display(description="precision")
    def precision(self, obj):
        return self._metric(obj, "precision")

    @admin.display(description="recall")
    def recall(self, obj):
        return self._metric(obj, "recall")

    @admin.display(description="AP")
    def average_precision(self, obj):
        return self._metric(obj, "average_precision")

    @admin.display(description="threshold")
    def threshold(self, obj):
        version = self._active(obj)
        return f"{version.threshold:.4f}" if version else "—"

    @admin.display(description="last training")
    def last_training(self, obj):
        return obj.last_job_state or "—"

    # Deleting a tag is resetting it: its unfinished trainings are cancelled, not orphaned.
    def delete_model(self, request, obj):
        tag_reset(tag=obj)

    def delete_queryset(self, request, queryset):
        for tag in queryset:
            tag_reset(tag=tag)


# --- jobs (on the admin base of muses.jobs) and assignments, for reference ------------


@admin.register(TrainingJob)
class TrainingJobAdmin(JobAdmin):
    list_display = ("task_id", "tag_name", "state", "progress", "version", "created", "finished")
    list_select_related = ("version",)


@admin.register(PredictionJob)
class PredictionJobAdmin(JobAdmin):
    list_display = ("task_id", "tag_names", "state", "progress", "rows", "created", "finished")


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("image_thumbnail", "image", "tag", "label", "assigned_by", "updated")
    list_filter = ("tag", "label")
    search_fields = ("image__image_id", "tag__name")
    list_select_related = ("image", "tag", "assigned_by")
    raw_id_fields = ("image",)
    readonly_fields = ("assigned_by", "created", "updated")

    @admin.display(description="image")
    def image_thumbnail(self, obj: Assignment) -> str:
        if not obj.image.file:
            return "—"
        return format_html(
            '<img src="{}" alt="{}" class="muses-thumb" style="max-height:60px;max-width:60px" '
            'loading="lazy">',
            obj.image.file.url,
            obj.image.image_id,
        )
