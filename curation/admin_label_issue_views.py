"""The admin's "Review likely errors" pages, for the naive dataset and for each custom tag:
thumbnails with the given and the suggested label, and one-click fixes (set the curator
class; flip or remove a tag assignment) that the next export and training use."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from rest_framework.exceptions import APIException

from curation.label_issue_requests import naive_label_issues, tag_label_issues
from curation.models import CurationJob
from curation.services.label_fixes import naive_label_fix, tag_label_fix
from curation.services.label_issue_reports import LabelIssueReport
from custom_tagging.models import CustomTag
from muses.admin_tools import can_change_images, job_followed, page_view
from muses.collection.models import Image
from naive_classification import definitions

PER_PAGE = 48
TEMPLATE = "admin/curation/label_issues.html"


def _cards(request, report: LabelIssueReport):
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
    context.update(extra, can_change=can_change_images(request))
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
        compute=naive_label_issues,
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
        compute=lambda: tag_label_issues(tag=tag),
        fix_url=reverse("admin:curation_tag_fix", args=[tag.pk]),
        kind="tag",
        tag=tag,
    )


def _fix(request, apply, success: str) -> HttpResponseRedirect:
    if not can_change_images(request):
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
        lambda image: naive_label_fix(image=image, class_name=class_name),
        f"{{image}}: curator class set to “{class_name}”.",
    )


def tag_fix_view(request, site, tag_pk: int):
    tag = get_object_or_404(CustomTag, pk=tag_pk)
    action = request.POST.get("action", "")
    done = "removed from" if action == "remove" else "label flipped in"
    return _fix(
        request,
        lambda image: tag_label_fix(tag=tag, image=image, action=action, user=request.user),
        f"{{image}}: {done} “{tag.name}”.",
    )


def label_issue_urls(site) -> list:
    base = "curation/label-issues/"
    return [
        path(base, page_view(site, index_view), name="curation_label_issues"),
        path(f"{base}naive/", page_view(site, naive_view), name="curation_naive_issues"),
        path(
            f"{base}naive/fix/",
            page_view(site, naive_fix_view, post=True),
            name="curation_naive_fix",
        ),
        path(f"{base}tags/<int:tag_pk>/", page_view(site, tag_view), name="curation_tag_issues"),
        path(
            f"{base}tags/<int:tag_pk>/fix/",
            page_view(site, tag_fix_view, post=True),
            name="curation_tag_fix",
        ),
    ]
