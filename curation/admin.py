"""Curation pages in the admin: the map of the collection (a lasso selection feeds bulk
actions), and "Review likely errors" for the naive dataset and for each custom tag:
thumbnails with the given and the suggested label, and one-click fixes (set the curator
class; flip or remove a tag assignment) that the next export and training use."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST
from rest_framework.exceptions import APIException

from curation import services
from curation.jobs import map_layout_enqueue
from curation.models import CurationJob, MapPoint
from custom_tagging.models import CustomTag
from muses.admin_site import AdminPage, admin_page_register
from muses.collection.models import Image
from muses.jobs.admin import JobAdmin, job_followed
from muses.jobs.models import JobState
from muses.json_limits import json_loads
from muses.vision.models import ImageFeature
from naive_classification import definitions

PER_PAGE = 48
MAX_SELECTION = 100_000
TEMPLATE = "admin/curation/label_issues.html"


def _can_change(request) -> bool:
    return request.user.has_perm("collection.change_image")


def _cards(request, report: services.LabelIssueReport):
    page = Paginator(report.issues, PER_PAGE).get_page(request.GET.get("page"))
    images = Image.objects.select_related("item").in_bulk(
        [issue["image_id"] for issue in page], field_name="image_id"
    )
    cards = [
        {**issue, "image": images[issue["image_id"]]}
        for issue in page
        if issue["image_id"] in images
    ]
    return page, cards


def _page(request, site, *, title: str, compute, fix_url: str, kind: str, **extra):
    context = {**site.each_context(request), "title": title, "kind": kind, "fix_url": fix_url}
    try:
        report = compute()
    except APIException as exc:
        context["problem"] = str(exc.detail)
    else:
        if isinstance(report, CurationJob):
            # Followed live: the report shows when it succeeds, else its error and a link.
            context.update(job_followed(report))
        else:
            page, cards = _cards(request, report)
            context.update(report=report, page=page, cards=cards)
    context.update(extra, can_change=_can_change(request))
    return TemplateResponse(request, TEMPLATE, context)


def index_view(request, site):
    tags = CustomTag.objects.order_by("name")
    context = {**site.each_context(request), "title": "Review likely errors", "tags": tags}
    return TemplateResponse(request, "admin/curation/label_issues_index.html", context)


def naive_view(request, site):
    return _page(
        request,
        site,
        title="Likely errors in the naive dataset",
        compute=services.naive_label_issues,
        fix_url=reverse("admin:curation_naive_fix"),
        kind="naive",
        classes=definitions.class_names(),
    )


def tag_view(request, site, tag_pk: int):
    tag = get_object_or_404(CustomTag, pk=tag_pk)
    return _page(
        request,
        site,
        title=f"Likely errors in the tag “{tag.name}”",
        compute=lambda: services.tag_label_issues(tag=tag),
        fix_url=reverse("admin:curation_tag_fix", args=[tag.pk]),
        kind="tag",
        tag=tag,
    )


def _fix(request, apply, success: str) -> HttpResponseRedirect:
    if not _can_change(request):
        raise PermissionDenied
    image = get_object_or_404(Image, image_id=request.POST.get("image_id", ""))
    try:
        apply(image)
    except APIException as exc:
        messages.error(request, str(exc.detail))
    else:
        messages.success(request, success.format(image=image.image_id))
    back = request.POST.get("next", "")
    return HttpResponseRedirect(back if back.startswith("/admin/") else reverse("admin:index"))


def naive_fix_view(request, site):
    class_name = request.POST.get("class_name", "")
    return _fix(
        request,
        lambda image: services.naive_label_fix(image=image, class_name=class_name),
        f"{{image}}: curator class set to “{class_name}”.",
    )


def tag_fix_view(request, site, tag_pk: int):
    tag = get_object_or_404(CustomTag, pk=tag_pk)
    action = request.POST.get("action", "")
    done = "removed from" if action == "remove" else "label flipped in"
    return _fix(
        request,
        lambda image: services.tag_label_fix(
            tag=tag, image=image, action=action, user=request.user
        ),
        f"{{image}}: {done} “{tag.name}”.",
    )


# --- the map ----------------------------------------------------------------------------


def map_view(request, site):
    points = MapPoint.objects.count()
    context = {
        **site.each_context(request),
        "title": "Map of the collection",
        "tags": CustomTag.objects.filter(versions__is_active=True).order_by("name"),
        "all_tags": CustomTag.objects.order_by("name"),
        "classes": definitions.class_names(),
        "points": points,
        "can_change": _can_change(request),
        **_layout_job_context(),
    }
    if not points:  # the empty state says how far feature extraction has come
        context.update(
            images=Image.objects.count(),
            with_features=ImageFeature.objects.filter(backbone=settings.MUSES_BACKBONE)
            .values("image_id")
            .distinct()
            .count(),
        )
    return TemplateResponse(request, "admin/curation/map.html", context)


def _layout_job_context() -> dict:
    """The latest layout, followed live while it runs; shown with its error if it failed."""
    job = CurationJob.objects.filter(kind=CurationJob.Kind.MAP_LAYOUT).order_by("-pk").first()
    if job is None or job.state in (JobState.SUCCESS, JobState.CANCELLED):
        return {}
    return job_followed(job, prefix="layout_")


def map_points_view(request, site):
    colour_by = request.GET.get("colour", "naive")
    tag = None
    if colour_by.startswith("tag:"):
        tag = CustomTag.objects.filter(name=colour_by[4:]).first()
        if tag is None:
            return JsonResponse({"detail": f"No custom tag named {colour_by[4:]!r}."}, status=404)
    elif colour_by not in services.MAP_COLOURINGS:
        return JsonResponse({"detail": f"Unknown colouring {colour_by[:30]!r}."}, status=400)
    try:
        return JsonResponse(services.map_points(colour_by=colour_by, tag=tag))
    except APIException as exc:
        return JsonResponse({"detail": str(exc.detail)}, status=exc.status_code)


def map_layout_view(request, site):
    if not _can_change(request):
        raise PermissionDenied
    try:
        job = map_layout_enqueue(user=request.user)
    except APIException as exc:  # the queue is down
        messages.error(request, str(exc.detail))
    else:
        _say_layout_state(request, job)
    return HttpResponseRedirect(reverse("admin:curation_map"))


def _say_layout_state(request, job: CurationJob) -> None:
    if job.state == JobState.ERROR:
        messages.error(request, f"The map was not laid out: {job.error}")
    elif job.state == JobState.SUCCESS:
        messages.success(request, f"The map was laid out: {job.result['points']} images.")
    else:
        messages.success(
            request,
            f"The map is being laid out in the background (task {job.task_id}); this page "
            f"shows it when it is done.",
        )


admin.site.register(CurationJob, JobAdmin)


def map_apply_view(request, site):
    if not _can_change(request):
        raise PermissionDenied
    try:
        body = json_loads(request.body or b"{}")  # JsonRefused (a ValueError) if too deep
        count = services.map_selection_apply(
            image_ids=[str(i) for i in body.get("image_ids", [])][:MAX_SELECTION],
            action=str(body.get("action", "")),
            tag_name=str(body.get("tag", "")),
            class_name=str(body.get("class_name", "")),
            user=request.user,
        )
    except (ValueError, AttributeError, TypeError):
        return JsonResponse(
            {"detail": "The body must be JSON with image_ids and action."}, status=400
        )
    except APIException as exc:
        return JsonResponse({"detail": str(exc.detail)}, status=exc.status_code)
    return JsonResponse({"changed": count})


def curation_urls(site) -> list:
    def view(func, post=False):
        wrapped = require_POST(func) if post else func
        return site.admin_view(lambda request, **kwargs: wrapped(request, site, **kwargs))

    base = "curation/label-issues/"
    return [
        path(base, view(index_view), name="curation_label_issues"),
        path(f"{base}naive/", view(naive_view), name="curation_naive_issues"),
        path(f"{base}naive/fix/", view(naive_fix_view, True), name="curation_naive_fix"),
        path(f"{base}tags/<int:tag_pk>/", view(tag_view), name="curation_tag_issues"),
        path(f"{base}tags/<int:tag_pk>/fix/", view(tag_fix_view, True), name="curation_tag_fix"),
        path("curation/map/", view(map_view), name="curation_map"),
        path("curation/map/points.json", view(map_points_view), name="curation_map_points"),
        path("curation/map/layout/", view(map_layout_view, True), name="curation_map_layout"),
        path("curation/map/apply/", view(map_apply_view, True), name="curation_map_apply"),
    ]


admin_page_register(
    AdminPage(
        app_label="curation",
        app_name="Curation",
        name="Review likely errors",
        url_name="curation_label_issues",
        urls=curation_urls,
    )
)
# Its URLs come with the page above; this entry only lists the map in the index.
admin_page_register(
    AdminPage(
        app_label="curation",
        app_name="Curation",
        name="Map of the collection",
        url_name="curation_map",
        urls=lambda site: [],
    )
)
