"""Curation pages in the admin: "Review likely errors" for the naive dataset and for each
custom tag — thumbnails with the given and the suggested label, and one-click fixes (set
the curator class; flip or remove a tag assignment) that the next export and training use."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST
from rest_framework.exceptions import APIException

from curation import services
from custom_tagging.models import CustomTag
from muses.admin_site import AdminPage, admin_page_register
from muses.collection.models import Image
from naive_classification import definitions

PER_PAGE = 48
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
