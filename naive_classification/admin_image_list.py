"""What the naive classifier adds to the image list: each image's naive label (the
exporter's own rule, with the word that decided it), a filter by it, and the curator's class
set on a selection."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html

from exporters.naive.labels import SKIP_AMBIGUOUS, SKIP_NO_MATCH, Label
from muses.admin_site import action_form, action_form_page
from naive_classification import definitions, services
from naive_classification.admin_forms import CuratorClassForm
from naive_classification.summaries import naive_label, naive_labels

FILTER_NO_WORD = "_no_word"
FILTER_AMBIGUOUS = "_ambiguous"


def _label_matches(label: Label, wanted: str) -> bool:
    if wanted == FILTER_NO_WORD:
        return label.skipped == SKIP_NO_MATCH
    if wanted == FILTER_AMBIGUOUS:
        return label.skipped == SKIP_AMBIGUOUS
    return label.class_name == wanted


class NaiveClassFilter(admin.SimpleListFilter):
    """Labels are decided in Python (word forms, accents, priorities), so the filter labels
    the already filtered images and keeps the matching primary keys."""

    title = "naive class"
    parameter_name = "naive_class"

    def lookups(self, request, model_admin):
        return [(name, name) for name in definitions.class_names()] + [
            (FILTER_NO_WORD, "no class word"),
            (FILTER_AMBIGUOUS, "several classes"),
        ]

    def queryset(self, request, queryset):
        wanted = self.value()
        if wanted is None:
            return queryset
        pks = [pk for pk, label in naive_labels(queryset) if _label_matches(label, wanted)]
        return queryset.filter(pk__in=pks)


@admin.action(description="Set curator class…", permissions=["change"])
def set_curator_class(modeladmin, request, queryset):
    form = action_form(request, CuratorClassForm)
    if not (form.is_bound and form.is_valid()):
        return action_form_page(
            modeladmin,
            request,
            queryset,
            form=form,
            title="Set the curator class",
            submit="Set curator class",
        )
    class_name = form.cleaned_data["curator_class"]
    count = services.curator_class_set(images=queryset, class_name=class_name)
    done = f"set to “{class_name}”" if class_name else "cleared"
    modeladmin.message_user(request, f"Curator class {done} on {count} images.", messages.SUCCESS)
    return None


@admin.display(description="naive class")
def naive_class(image) -> str:
    label = naive_label(image)
    if label.class_name is None:
        return format_html('<span class="muses-muted">{}</span>', label.skipped)
    return format_html('{} <span class="muses-muted">“{}”</span>', label.class_name, label.word)


@admin.display(description="naive label")
def naive_label_display(image) -> str:
    label = naive_label(image)
    if label.class_name is None:
        return f"none ({label.skipped})"
    if label.field == "curator_class":
        return format_html("<strong>{}</strong>, set by a curator", label.class_name)
    return format_html(
        "<strong>{}</strong>, decided by the word “{}” in the {}",
        label.class_name,
        label.word,
        label.field.replace("_", " "),
    )
