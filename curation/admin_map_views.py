"""The admin's map of the collection: every image with features as a point, coloured by a
class or a tag score; a lasso selection feeds bulk actions; a layout runs as a job."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import path
from rest_framework.exceptions import APIException

from curation.jobs import map_layout_enqueue
from curation.models import CurationJob, MapPoint
from curation.services.collection_map import MAP_COLOURINGS, map_points, map_selection_apply
from custom_tagging.models import CustomTag
from muses.admin_tools import (
    can_change_images,
    job_start_view,
    job_state_say,
    latest_job_followed,
    page_view,
)
from muses.collection.models import Image
from muses.json_limits import json_loads
from muses.vision.models import ImageFeature
from naive_classification import definitions

MAX_SELECTION = 100_000


def map_view(request, site):
    points = MapPoint.objects.count()
    context = {
        **site.each_context(request),
        "title": "Map of the collection",
        "tags": CustomTag.objects.filter(versions__is_active=True).order_by("name"),
        "all_tags": CustomTag.objects.order_by("name"),
        "classes": definitions.class_names(),
        "points": points,
        "can_change": can_change_images(request),
        **latest_job_followed(
            CurationJob.objects.filter(kind=CurationJob.Kind.MAP_LAYOUT), prefix="layout_"
        ),
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


def map_points_view(request, site):
    colour_by = request.GET.get("colour", "naive")
    tag = None
    if colour_by.startswith("tag:"):
        tag = CustomTag.objects.filter(name=colour_by[4:]).first()
        if tag is None:
            return JsonResponse({"detail": f"No custom tag named {colour_by[4:]!r}."}, status=404)
    elif colour_by not in MAP_COLOURINGS:
        return JsonResponse({"detail": f"Unknown colouring {colour_by[:30]!r}."}, status=400)
    try:
        return JsonResponse(map_points(colour_by=colour_by, tag=tag))
    except APIException as exc:
        return JsonResponse({"detail": str(exc.detail)}, status=exc.status_code)


def map_layout_view(request, site):
    return job_start_view(
        request, enqueue=map_layout_enqueue, say=_say_layout_state, back="admin:curation_map"
    )


def _say_layout_state(request, job: CurationJob) -> None:
    job_state_say(
        request,
        job,
        failed="The map was not laid out",
        done=lambda result: f"The map was laid out: {result['points']} images.",
        running=(
            "The map is being laid out in the background (task {task_id}); this page "
            "shows it when it is done."
        ),
    )


def map_apply_view(request, site):
    if not can_change_images(request):
        raise PermissionDenied
    try:
        body = json_loads(request.body or b"{}")  # JsonRefused (a ValueError) if too deep
        count = map_selection_apply(
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


def map_urls(site) -> list:
    return [
        path("curation/map/", page_view(site, map_view), name="curation_map"),
        path(
            "curation/map/points.json",
            page_view(site, map_points_view),
            name="curation_map_points",
        ),
        path(
            "curation/map/layout/",
            page_view(site, map_layout_view, post=True),
            name="curation_map_layout",
        ),
        path(
            "curation/map/apply/",
            page_view(site, map_apply_view, post=True),
            name="curation_map_apply",
        ),
    ]
