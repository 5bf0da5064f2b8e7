"""The near-duplicates page: groups to review, keep apart or merge, and a search to start."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from muses.admin_tools import (
    can_change_images,
    job_start_view,
    job_state_say,
    latest_job_followed,
    page_view,
)
from muses.vision.job_kinds import duplicates_find_enqueue
from muses.vision.models import DuplicateGroup, DuplicateMember, VisionJob
from muses.vision.near_duplicates import duplicate_group_keep, duplicate_group_merge

GROUPS_PER_PAGE = 20


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
        "can_change": can_change_images(request),
        **latest_job_followed(VisionJob.objects.all(), prefix="search_"),
    }
    return TemplateResponse(request, "admin/vision/duplicates.html", context)


def duplicate_decide_view(request, site, group_pk: int):
    if not can_change_images(request):
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
    return job_start_view(
        request,
        enqueue=duplicates_find_enqueue,
        say=_say_search_state,
        back="admin:vision_duplicates",
    )


def _say_search_state(request, job: VisionJob) -> None:
    job_state_say(
        request,
        job,
        failed="The near-duplicate search failed",
        done=lambda found: (
            f"Near-duplicates searched: {found['pairs']} pairs, {found['groups_created']} "
            f"new groups, {found['groups_grown']} grown."
        ),
        running=(
            "Looking for near-duplicates in the background (task {task_id}); this page "
            "shows the groups it finds when it is done."
        ),
    )


def duplicates_urls(site) -> list:
    return [
        path(
            "vision/near-duplicates/",
            page_view(site, duplicates_view),
            name="vision_duplicates",
        ),
        path(
            "vision/near-duplicates/find/",
            page_view(site, duplicates_find_view, post=True),
            name="vision_duplicates_find",
        ),
        path(
            "vision/near-duplicates/<int:group_pk>/decide/",
            page_view(site, duplicate_decide_view, post=True),
            name="vision_duplicate_decide",
        ),
    ]
