"""A custom tag's admin page: what the tag knows (examples, versions and how good each one
is), training it and watching the job, rolling back, and labelling the images the model is
least sure of. Every write goes through :mod:`custom_tagging.services`."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST
from rest_framework.exceptions import APIException

from custom_tagging.jobs import tag_train_enqueue
from custom_tagging.models import CustomTag
from custom_tagging.reports import pr_curve_cached
from custom_tagging.selectors import image_get
from custom_tagging.services.predictions import tag_suggest
from custom_tagging.services.tags import assignment_set, tag_counts
from custom_tagging.services.versions import version_activate
from muses.collection.models import Image
from muses.jobs.services import job_cancel, job_expire_if_stale

SUGGESTIONS = 12
RECENT_JOBS = 5


def tag_suggestions(tag: CustomTag, n: int = SUGGESTIONS) -> tuple[list[dict], str]:
    """[{image, score}] the active version is least sure of, or why there are none."""
    try:
        picked = tag_suggest(tag=tag, n=n)
    except APIException as exc:
        return [], str(exc.detail)
    images = Image.objects.select_related("item").in_bulk(
        [p["image_id"] for p in picked], field_name="image_id"
    )
    rows = [{"image": images[p["image_id"]], "score": p["score"]} for p in picked]
    return rows, "" if rows else "Every stored image is labelled already."


def tag_review(tag: CustomTag) -> dict:
    jobs = [job_expire_if_stale(job) for job in tag.jobs.all()[:RECENT_JOBS]]
    suggestions, suggestions_note = tag_suggestions(tag)
    active = tag.active_version()
    return {
        "tag": tag,
        "counts": tag_counts(tag=tag),
        "versions": list(tag.versions.defer("coef")),
        "active_version": active,
        "jobs": jobs,
        "latest_job": jobs[0] if jobs else None,
        "suggestions": suggestions,
        "suggestions_note": suggestions_note,
    }


class CustomTagPageViews:
    """The tag page's views and buttons, mixed into the tag's ModelAdmin."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        tag = self.get_object(request, unquote(object_id))
        extra = {**(extra_context or {}), **(tag_review(tag) if tag else {})}
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self):
        def view(func, post=True):
            wrapped = require_POST(func) if post else func
            return self.admin_site.admin_view(wrapped)

        name = "custom_tagging_customtag"
        return [
            path("<path:object_id>/train/", view(self.train_view), name=f"{name}_train"),
            path(
                "<path:object_id>/versions/<int:number>/activate/",
                view(self.activate_view),
                name=f"{name}_activate",
            ),
            path(
                "<path:object_id>/jobs/<str:task_id>/cancel/",
                view(self.cancel_view),
                name=f"{name}_cancel",
            ),
            path("<path:object_id>/label/", view(self.label_view), name=f"{name}_label"),
            path(
                "<path:object_id>/pr-curve.png",
                view(self.pr_curve_view, post=False),
                name=f"{name}_pr_curve",
            ),
        ] + super().get_urls()

    def _tag_for_change(self, request, object_id) -> CustomTag:
        tag = self.get_object(request, unquote(object_id))
        if tag is None:
            raise Http404("No such custom tag.")
        if not self.has_change_permission(request, tag):
            raise PermissionDenied
        return tag

    def _back(self, tag: CustomTag, anchor: str = "") -> HttpResponseRedirect:
        url = reverse("admin:custom_tagging_customtag_change", args=[tag.pk])
        return HttpResponseRedirect(url + anchor)

    def _call(self, request, func, success: str) -> bool:
        """Run a service call; its API errors become messages on the page."""
        try:
            result = func()
        except APIException as exc:
            self.message_user(request, str(exc.detail), messages.ERROR)
            return False
        self.message_user(request, success.format(result=result), messages.SUCCESS)
        return True

    def train_view(self, request, object_id):
        tag = self._tag_for_change(request, object_id)
        self._call(
            request,
            lambda: tag_train_enqueue(tag=tag, user=request.user),
            "Training queued (task {result.task_id}).",
        )
        return self._back(tag, "#training")

    def activate_view(self, request, object_id, number: int):
        tag = self._tag_for_change(request, object_id)
        self._call(
            request,
            lambda: version_activate(tag=tag, number=number),
            "Version {result.number} is active now.",
        )
        return self._back(tag, "#versions")

    def cancel_view(self, request, object_id, task_id: str):
        tag = self._tag_for_change(request, object_id)
        if not tag.jobs.filter(task_id=task_id).exists():
            raise Http404("No such training job of this tag.")
        self._call(
            request,
            lambda: job_cancel(task_id=task_id),
            "Job {result.task_id} is {result.state}.",
        )
        return self._back(tag, "#training")

    def label_view(self, request, object_id):
        """One-click labelling of a suggestion; JSON for the page's script, else a redirect."""
        tag = self._tag_for_change(request, object_id)
        try:
            image = image_get(image_id=request.POST.get("image_id", ""))
            assignment = assignment_set(
                image=image,
                tag_name=tag.name,
                label=request.POST.get("label", ""),
                user=request.user,
            )
        except APIException as exc:
            if _wants_json(request):
                return JsonResponse({"detail": str(exc.detail)}, status=exc.status_code)
            self.message_user(request, str(exc.detail), messages.ERROR)
            return self._back(tag, "#suggestions")
        if _wants_json(request):
            return JsonResponse({"image_id": image.image_id, "label": assignment.label})
        self.message_user(request, f"{image.image_id} marked {assignment.label}.", messages.SUCCESS)
        return self._back(tag, "#suggestions")

    def pr_curve_view(self, request, object_id):
        tag = self.get_object(request, unquote(object_id))
        if tag is None or not self.has_view_permission(request, tag):
            raise Http404("No such custom tag.")
        number = request.GET.get("version")
        version = (
            tag.versions.filter(number=int(number)).first()
            if number and number.isdigit()
            else tag.active_version()
        )
        if version is None:
            raise Http404("This tag has no such version.")
        response = HttpResponse(pr_curve_cached(version), content_type="image/png")
        response["Cache-Control"] = "private, max-age=60"
        return response


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")
