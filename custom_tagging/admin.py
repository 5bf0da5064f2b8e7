"""Custom tags in the admin: what a tag knows (examples, versions and how good each one is),
training it and watching the job, rolling back, labelling the images the model is least sure
of; and, for the image list, a filter and bulk actions by tag.

Every write goes through :mod:`custom_tagging.services`, the bulk labelling of many images at
once included (``assignments_set_many``).
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Prefetch, Q, Subquery
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST
from rest_framework.exceptions import APIException

from custom_tagging import exceptions as errors
from custom_tagging.jobs import tag_train_enqueue
from custom_tagging.models import (
    TAG_NAME_MAX_LENGTH,
    Assignment,
    CustomTag,
    PredictionJob,
    TagVersion,
    TrainingJob,
)
from custom_tagging.reports import pr_curve_cached
from custom_tagging.selectors import image_get
from custom_tagging.services.predictions import image_predictions, tag_suggest
from custom_tagging.services.tags import (
    assignment_set,
    assignments_remove_many,
    assignments_set_many,
    tag_counts,
    tag_get_or_create,
    tag_name_validate,
    tag_reset,
)
from custom_tagging.services.versions import version_activate
from muses.admin_site import action_form, action_form_page, image_admin_extend
from muses.collection.models import Image
from muses.jobs.admin import JobAdmin
from muses.jobs.services import job_cancel, job_expire_if_stale
from muses.vision.models import ImageFeature

SUGGESTIONS = 12
RECENT_JOBS = 5
FILTER_TAGS = 50
LABELS = Assignment.Label.values
NOT_LABELLED = "none"

# --- labelling many images at once ---------------------------------------------------


class TagChoiceForm(forms.Form):
    """Pick a tag, or (when labelling) name a new one."""

    tag = forms.ModelChoiceField(
        queryset=CustomTag.objects.order_by("name"),
        required=False,
        empty_label="— choose a tag —",
    )
    new_tag = forms.CharField(label="or a new tag", required=False, max_length=TAG_NAME_MAX_LENGTH)

    def __init__(self, *args, allow_new: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not allow_new:
            del self.fields["new_tag"]
            self.fields["tag"].required = True

    def clean_new_tag(self) -> str:
        name = self.cleaned_data.get("new_tag", "")
        if not name:
            return ""
        try:
            return tag_name_validate(name=name)
        except errors.InvalidTagName as exc:
            raise forms.ValidationError(str(exc.detail))

    def clean(self):
        data = super().clean()
        if data.get("tag") and data.get("new_tag"):
            raise forms.ValidationError("Choose a tag or name a new one, not both.")
        if "new_tag" in self.fields and not (data.get("tag") or data.get("new_tag")):
            raise forms.ValidationError("Choose a tag or name a new one.")
        return data

    def chosen_tag(self) -> CustomTag:
        if self.cleaned_data.get("tag"):
            return self.cleaned_data["tag"]
        return tag_get_or_create(name=self.cleaned_data["new_tag"])


def _label_selection(modeladmin, request, queryset, label: str):
    form = action_form(request, TagChoiceForm)
    if not (form.is_bound and form.is_valid()):
        return action_form_page(
            modeladmin,
            request,
            queryset,
            form=form,
            title=f"Mark images {label} for a tag",
            submit=f"Mark {label}",
            intro=f"The selected images become {label} examples of the tag; "
            "images already assigned to it switch label.",
        )
    tag = form.chosen_tag()
    count = assignments_set_many(tag=tag, images=queryset, label=label, user=request.user)
    modeladmin.message_user(
        request, f"{count} images marked {label} for “{tag.name}”.", messages.SUCCESS
    )
    return None


@admin.action(description="Mark positive for tag…", permissions=["change"])
def mark_positive(modeladmin, request, queryset):
    return _label_selection(modeladmin, request, queryset, Assignment.Label.POSITIVE)


@admin.action(description="Mark negative for tag…", permissions=["change"])
def mark_negative(modeladmin, request, queryset):
    return _label_selection(modeladmin, request, queryset, Assignment.Label.NEGATIVE)


@admin.action(description="Remove from tag…", permissions=["change"])
def remove_from_tag(modeladmin, request, queryset):
    form = action_form(request, TagChoiceForm, allow_new=False)
    if not (form.is_bound and form.is_valid()):
        return action_form_page(
            modeladmin,
            request,
            queryset,
            form=form,
            title="Remove images from a tag",
            submit="Remove from tag",
            intro="The selected images stop being examples (positive or negative) of the tag.",
        )
    tag = form.chosen_tag()
    count = assignments_remove_many(tag=tag, images=queryset)
    modeladmin.message_user(request, f"{count} images removed from “{tag.name}”.", messages.SUCCESS)
    return None


TAG_ACTIONS = [mark_positive, mark_negative, remove_from_tag]


class TagAssignmentFilter(admin.SimpleListFilter):
    """Images by their label for one tag: positive, negative, or not labelled."""

    title = "custom tag label"
    parameter_name = "tag_label"

    def lookups(self, request, model_admin):
        tags = CustomTag.objects.order_by("name").only("pk", "name")[:FILTER_TAGS]
        return [
            (f"{tag.pk}:{label}", f"{tag.name}: {label if label in LABELS else 'not labelled'}")
            for tag in tags
            for label in (*LABELS, NOT_LABELLED)
        ]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        tag_pk, _, label = self.value().partition(":")
        if not tag_pk.isdigit() or label not in (*LABELS, NOT_LABELLED):
            return queryset.none()
        if label == NOT_LABELLED:
            return queryset.exclude(tag_assignments__tag_id=int(tag_pk))
        return queryset.filter(tag_assignments__tag_id=int(tag_pk), tag_assignments__label=label)


LABEL_SIGNS = {Assignment.Label.POSITIVE: "+", Assignment.Label.NEGATIVE: "−"}


@admin.display(description="tags", empty_value="")
def tag_labels(image: Image) -> str:
    return format_html_join(
        " ",
        '<span class="muses-label muses-label-{}">{} {}</span>',
        ((a.label, a.tag.name, LABEL_SIGNS[a.label]) for a in image.tag_assignments.all()),
    )


def with_tag_assignments(queryset):
    """One query for the labels of a whole page of images."""
    assignments = Assignment.objects.select_related("tag").order_by("tag__name")
    return queryset.prefetch_related(Prefetch("tag_assignments", queryset=assignments))


# --- scores of one image -------------------------------------------------------------


def image_tag_rows(image: Image) -> tuple[list[dict], str]:
    """Per tag (all of them): the image's label and its score by the active version, from
    the stored features (never computed here); and a note when it cannot be scored."""
    labels = dict(image.tag_assignments.values_list("tag__name", "label"))
    has_features = ImageFeature.objects.filter(
        image=image, backbone=settings.MUSES_BACKBONE
    ).exists()
    scores = image_predictions(image=image) if has_features else {}
    note = "" if has_features else "No stored features yet: run muses_extract_features."
    names = CustomTag.objects.order_by("name").values_list("name", flat=True)
    return [{"tag": n, "label": labels.get(n, ""), **scores.get(n, {})} for n in names], note


def image_tag_table(image: Image) -> str:
    rows, note = image_tag_rows(image)
    if not rows:
        return note or "No custom tag is trained or assigned yet."
    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                r["tag"],
                r["label"] or "—",
                _score(r.get("score")),
                "yes" if r.get("prediction") else ("no" if "score" in r else "—"),
                _version(r.get("version"), r.get("threshold")),
            )
            for r in rows
        ),
    )
    return format_html(
        '<table class="muses-scores"><thead><tr><th>tag</th><th>label</th><th>score</th>'
        "<th>predicted</th><th>version (threshold)</th></tr></thead><tbody>{}</tbody></table>"
        "<p class='help'>{}</p>",
        body,
        note,
    )


@admin.display(description="score per custom tag")
def tag_scores(image: Image) -> str:
    return image_tag_table(image)


image_admin_extend(
    columns=[("predicted", tag_labels)],
    filters=[("curator_class", TagAssignmentFilter)],
    actions=TAG_ACTIONS,
    panels=[("Custom tags", (tag_scores,))],
    queryset=with_tag_assignments,
)


def _score(score) -> str:
    return "—" if score is None else f"{score:.4f}"


def _version(number, threshold) -> str:
    return "—" if number is None else f"v{number} ({threshold:.4f})"


# --- the tag's page --------------------------------------------------------------------


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


class CustomTagForm(forms.ModelForm):
    class Meta:
        model = CustomTag
        fields = ["name", "target_precision"]

    def clean_name(self) -> str:
        try:
            return tag_name_validate(name=self.cleaned_data["name"])
        except errors.InvalidTagName as exc:
            raise forms.ValidationError(str(exc.detail))

    def clean_target_precision(self):
        value = self.cleaned_data["target_precision"]
        if value is not None and not 0 < value <= 1:
            raise forms.ValidationError("A target precision is between 0 and 1.")
        return value


def _latest_job_state():
    jobs = TrainingJob.objects.filter(tag=OuterRef("pk")).order_by("-created", "-id")
    return Subquery(jobs.values("state")[:1])


@admin.register(CustomTag)
class CustomTagAdmin(admin.ModelAdmin):
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

    # --- the review page and its buttons -------------------------------------------

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
