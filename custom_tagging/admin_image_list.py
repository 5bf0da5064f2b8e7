"""What custom tags add to the image list: bulk actions that label a selection for a tag
(through one intermediate page), a filter by tag label, a column of labels and a panel of
scores per tag. Every write goes through ``assignments_set_many`` / ``assignments_remove_many``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Prefetch
from django.utils.html import format_html, format_html_join

from custom_tagging.admin_forms import TagChoiceForm
from custom_tagging.models import Assignment, CustomTag
from custom_tagging.services.predictions import image_predictions
from custom_tagging.services.tags import assignments_remove_many, assignments_set_many
from muses.admin_site import action_form, action_form_page
from muses.collection.models import Image
from muses.vision.models import ImageFeature

FILTER_TAGS = 50
LABELS = Assignment.Label.values
NOT_LABELLED = "none"


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


def _score(score) -> str:
    return "—" if score is None else f"{score:.4f}"


def _version(number, threshold) -> str:
    return "—" if number is None else f"v{number} ({threshold:.4f})"
