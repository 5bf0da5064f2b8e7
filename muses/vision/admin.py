"""Stored features in the admin: read-only, a filter for images that have them, and the
near-duplicates page (groups to review, keep apart or merge) with its image filter."""

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Prefetch
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST
from rest_framework.exceptions import APIException

from muses.admin_site import AdminPage, admin_page_register
from muses.jobs.admin import JobAdmin, job_followed
from muses.jobs.models import JobState
from muses.vision.job_kinds import duplicates_find_enqueue
from muses.vision.models import DuplicateGroup, DuplicateMember, ImageFeature, VisionJob
from muses.vision.near_duplicates import duplicate_group_keep, duplicate_group_merge


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


# --- near-duplicates ----------------------------------------------------------------------

GROUPS_PER_PAGE = 20


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


def _can_change(request) -> bool:
    return request.user.has_perm("collection.change_image")


def duplicates_view(request, site):
    state = request.GET.get("state", DuplicateGroup.State.OPEN)
    if state not in DuplicateGroup.State.values:
        state = DuplicateGroup.State.OPEN
    groups = (
        DuplicateGroup.objects.filter(state=state)
        .prefetch_related(
            Prefetch(
                "members",
                queryset=DuplicateMember.objects.select_related("image__item").order_by("image_id"),
            )
        )
        .order_by("-created", "-id")
    )
    page = Paginator(groups, GROUPS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        **site.each_context(request),
        "title": "Near-duplicates",
        "page": page,
        "state": state,
        "states": DuplicateGroup.State.values,
        "counts": dict(
            DuplicateGroup.objects.values_list("state").annotate(n=Count("id")).order_by()
        ),
        "can_change": _can_change(request),
        **_search_job_context(),
    }
    return TemplateResponse(request, "admin/vision/duplicates.html", context)


def _search_job_context() -> dict:
    """The latest near-duplicate search, followed live while it runs; shown if it failed."""
    job = VisionJob.objects.order_by("-pk").first()
    if job is None or job.state in (JobState.SUCCESS, JobState.CANCELLED):
        return {}
    return job_followed(job, prefix="search_")


def duplicate_decide_view(request, site, group_pk: int):
    if not _can_change(request):
        raise PermissionDenied
    group = get_object_or_404(DuplicateGroup, pk=group_pk)
    action = request.POST.get("action", "")
    try:
        if action == "keep":
            duplicate_group_keep(group=group)
            messages.success(request, f"Group #{group.pk} kept apart: distinct objects.")
        elif action == "merge":
            duplicate_group_merge(group=group)
            messages.success(request, f"Group #{group.pk} merged: its images are on one item.")
        else:
            messages.error(request, f"Unknown action {action[:20]!r}: use keep or merge.")
    except ValueError as exc:
        messages.error(request, str(exc))
    return HttpResponseRedirect(reverse("admin:vision_duplicates"))


def duplicates_find_view(request, site):
    if not _can_change(request):
        raise PermissionDenied
    try:
        job = duplicates_find_enqueue(user=request.user)
    except APIException as exc:  # the queue is down
        messages.error(request, str(exc.detail))
    else:
        _say_search_state(request, job)
    return HttpResponseRedirect(reverse("admin:vision_duplicates"))


def _say_search_state(request, job: VisionJob) -> None:
    if job.state == JobState.ERROR:
        messages.error(request, f"The near-duplicate search failed: {job.error}")
    elif job.state == JobState.SUCCESS:
        found = job.result
        messages.success(
            request,
            f"Near-duplicates searched: {found['pairs']} pairs, {found['groups_created']} "
            f"new groups, {found['groups_grown']} grown.",
        )
    else:
        messages.success(
            request,
            f"Looking for near-duplicates in the background (task {job.task_id}); this page "
            f"shows the groups it finds when it is done.",
        )


admin.site.register(VisionJob, JobAdmin)


def duplicates_urls(site) -> list:
    def view(func, post=False):
        wrapped = require_POST(func) if post else func
        return site.admin_view(lambda request, **kwargs: wrapped(request, site, **kwargs))

    return [
        path("vision/near-duplicates/", view(duplicates_view), name="vision_duplicates"),
        path(
            "vision/near-duplicates/find/",
            view(duplicates_find_view, True),
            name="vision_duplicates_find",
        ),
        path(
            "vision/near-duplicates/<int:group_pk>/decide/",
            view(duplicate_decide_view, True),
            name="vision_duplicate_decide",
        ),
    ]


admin_page_register(
    AdminPage(
        app_label="vision",
        app_name="Vision (features)",
        name="Near-duplicates",
        url_name="vision_duplicates",
        urls=duplicates_urls,
    )
)
