"""The naive classifier in the admin: each image's naive label (the exporter's own rule, with
the word that decided it), a filter by it, the curator's class, and one page for the exported
dataset, the export and training jobs, and the trained models with their plots. What the page
summarises is computed in :mod:`naive_classification.summaries`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from muses.jobs.admin_base import JobAdmin
from rest_framework.exceptions import APIException

from exporters.dataset import SPLITS
from exporters.naive.labels import SKIP_AMBIGUOUS, SKIP_NO_MATCH, Label
from muses.admin_site import (
    AdminPage,
    action_form,
    action_form_page,
    admin_page_register,
    image_admin_extend,
)
from muses.jobs.models import JobState
from muses.jobs.services import job_cancel, job_expire_if_stale
from naive_classification import definitions, services
from naive_classification.jobs import classifier_train_enqueue, dataset_export_enqueue
from naive_classification.models import NaiveJob
from naive_classification.persistence import check_model_name
from naive_classification.summaries import (
    PLOT_NAME_RE,
    configured_model,
    dataset_summary,
    labelling_summary,
    naive_label,
    naive_labels,
    saved_models,
)

FILTER_NO_WORD = "_no_word"
FILTER_AMBIGUOUS = "_ambiguous"

# --- naive labels -----------------------------------------------------------------------


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


# --- the curator's class ----------------------------------------------------------------


def curator_class_choices() -> list[tuple[str, str]]:
    return [("", "— none: the class words decide —")] + [
        (name, name) for name in definitions.class_names()
    ]


class CuratorClassForm(forms.Form):
    curator_class = forms.ChoiceField(
        label="Curator class",
        choices=curator_class_choices,
        required=False,
        help_text="Wins over the class words of the record in the next dataset export.",
    )


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


class CuratorClassField(forms.ChoiceField):
    """The classes of the naive classifier, plus a stored value they no longer hold."""

    def __init__(self, *, current: str = "", **kwargs):
        choices = curator_class_choices()
        if current and current not in dict(choices):
            choices.append((current, f"{current} (not in definitions)"))
        super().__init__(choices=choices, required=False, **kwargs)


def curator_class_field(*, current: str = "") -> CuratorClassField:
    return CuratorClassField(
        current=current or "",
        label="Curator class",
        help_text="Wins over the class words of the record in the next dataset export.",
    )


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


image_admin_extend(
    columns=[("museum", naive_class)],
    filters=[("item__object_type", NaiveClassFilter)],
    actions=[set_curator_class],
    panels=[("Classes", (naive_label_display,))],
    form_fields={"curator_class": curator_class_field},
)


# --- the naive classification page: jobs --------------------------------------------------

RECENT_JOBS = 10


def naive_job_status(job: NaiveJob) -> dict:
    """A job as the page's status poll reads it (the shape of /status/<task_id>)."""
    return {
        "task_id": job.task_id,
        "kind": job.kind,
        "name": job.name,
        "state": job.state,
        "progress": job.progress,
        "error": job.error,
        "result": job.result,
        "finished": job.finished.isoformat() if job.finished else None,
    }


def recent_jobs() -> list[NaiveJob]:
    """The page's jobs, newest first, each expired first if its worker is gone."""
    return [job_expire_if_stale(job) for job in NaiveJob.objects.all()[:RECENT_JOBS]]


admin.site.register(NaiveJob, JobAdmin)


# --- the naive classification page: views --------------------------------------------------


def default_model_name() -> str:
    return f"naive_{datetime.now(UTC):%Y%m%d-%H%M%S}"


class TrainForm(forms.Form):
    model_name = forms.CharField(max_length=100, initial=default_model_name)
    # EfficientNet-Lite0's weights ship with the project; VGG19's are downloaded by Keras.
    model_type = forms.ChoiceField(
        choices=[(n, n) for n in definitions.MODEL_BUILDERS], initial="efficientnet_lite0"
    )
    weights = forms.ChoiceField(
        choices=[("imagenet", "ImageNet"), ("none", "none (random; for quick trials)")]
    )
    epochs = forms.IntegerField(min_value=1, max_value=1000, initial=10)
    fine_tuning = forms.BooleanField(required=False, initial=True)
    target_size = forms.IntegerField(min_value=32, max_value=1024, initial=128)
    plot_performance = forms.BooleanField(required=False, initial=True)

    def clean_model_name(self) -> str:
        try:
            return check_model_name(self.cleaned_data["model_name"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc))

    def clean(self):
        data = super().clean()
        if data.get("fine_tuning") and data.get("epochs") == 1:
            raise forms.ValidationError("Fine-tuning needs at least 2 epochs.")
        return data

    def job(self) -> dict:
        data = dict(self.cleaned_data)
        data["weights"] = None if data["weights"] == "none" else data["weights"]
        return data


class ExportForm(forms.Form):
    max_images = forms.IntegerField(
        min_value=1, required=False, help_text="At most this many images per class."
    )


def can_run_jobs(user) -> bool:
    return user.has_perm("collection.change_image")


def _page_context(request, site, **extra) -> dict:
    value, resolved, problem = configured_model()
    return {
        **site.each_context(request),
        "title": "Naive classification",
        "dataset": dataset_summary(),
        "splits": SPLITS,
        "labelling": labelling_summary(),
        "models": saved_models(),
        "model_dir": settings.MUSES_MODEL_DIR,
        "configured_value": value,
        "configured_path": resolved,
        "configured_problem": problem,
        "tasks": recent_jobs(),
        "watched": _watched_job(request),
        "can_run_jobs": can_run_jobs(request.user),
        "train_form": extra.pop("train_form", None) or TrainForm(),
        "export_form": extra.pop("export_form", None) or ExportForm(),
        "queue_admin_url": _queue_admin_url(),
        **extra,
    }


def _watched_job(request) -> dict | None:
    """The job just queued from this page (?task=<id>), in its current state."""
    job = NaiveJob.objects.filter(task_id=request.GET.get("task", "")[:32]).first()
    if job is None:
        return None
    return {
        **naive_job_status(job_expire_if_stale(job)),
        "url": reverse("admin:naive_classification_task", args=[job.task_id]),
    }


def _queue_admin_url() -> str:
    return reverse("admin:app_list", args=["django_q"])


def naive_page_view(request, site):
    return TemplateResponse(
        request, "admin/naive_classification/page.html", _page_context(request, site)
    )


def _enqueue_and_watch(request, enqueue, what: str) -> HttpResponseRedirect:
    """Queue the job and come back to the page watching it. With a synchronous queue
    (MUSES_Q_SYNC) the job ran right here, and its failure is on the job already."""
    page = reverse("admin:naive_classification")
    try:
        job = enqueue(user=request.user)
    except APIException as exc:  # the queue is not available
        messages.error(request, f"{what} failed: {exc.detail}")
        return HttpResponseRedirect(page)
    if job.state == JobState.ERROR:
        messages.error(request, f"{what} failed: {job.error}")
    else:
        messages.success(request, f"{what} was queued.")
    return HttpResponseRedirect(f"{page}?task={job.task_id}")


def naive_export_view(request, site):
    if not can_run_jobs(request.user):
        raise PermissionDenied
    form = ExportForm(request.POST)
    if not form.is_valid():
        context = _page_context(request, site, export_form=form)
        return TemplateResponse(request, "admin/naive_classification/page.html", context)
    return _enqueue_and_watch(
        request,
        lambda user: dataset_export_enqueue(max_images=form.cleaned_data["max_images"], user=user),
        "The dataset export",
    )


def naive_train_view(request, site):
    if not can_run_jobs(request.user):
        raise PermissionDenied
    form = TrainForm(request.POST)
    if not form.is_valid():
        context = _page_context(request, site, train_form=form)
        return TemplateResponse(request, "admin/naive_classification/page.html", context)
    options = form.job()
    return _enqueue_and_watch(
        request,
        lambda user: classifier_train_enqueue(options=options, user=user),
        f"Training of {options['model_name']}",
    )


def naive_task_view(request, site, task_id: str):
    job = NaiveJob.objects.filter(task_id=task_id[:32]).first()
    if job is None:
        return JsonResponse({"detail": f"No naive job with task_id {task_id[:64]!r}."}, status=404)
    return JsonResponse(naive_job_status(job_expire_if_stale(job)))


def naive_task_cancel_view(request, site, task_id: str):
    if not can_run_jobs(request.user):
        raise PermissionDenied
    page = reverse("admin:naive_classification")
    if not NaiveJob.objects.filter(task_id=task_id[:32]).exists():
        raise Http404("No such naive job.")
    try:
        job = job_cancel(task_id=task_id)
        messages.success(request, f"The {job.name} was cancelled.")
    except APIException as exc:
        messages.error(request, str(exc.detail))
    return HttpResponseRedirect(f"{page}?task={task_id}")


def naive_plot_view(request, site, filename: str):
    if not PLOT_NAME_RE.match(filename):
        raise Http404("No such plot.")
    plot = Path(settings.MUSES_PLOT_DIR) / filename
    if not plot.is_file():
        raise Http404("No such plot.")
    return FileResponse(open(plot, "rb"), content_type="image/png")


def naive_urls(site) -> list:
    def view(func, post=False):
        wrapped = require_POST(func) if post else func
        return site.admin_view(lambda request, **kwargs: wrapped(request, site, **kwargs))

    base = "naive-classification/"
    return [
        path(base, view(naive_page_view), name="naive_classification"),
        path(f"{base}export/", view(naive_export_view, True), name="naive_classification_export"),
        path(f"{base}train/", view(naive_train_view, True), name="naive_classification_train"),
        path(
            f"{base}tasks/<str:task_id>/", view(naive_task_view), name="naive_classification_task"
        ),
        path(
            f"{base}tasks/<str:task_id>/cancel/",
            view(naive_task_cancel_view, True),
            name="naive_classification_task_cancel",
        ),
        path(
            f"{base}plots/<str:filename>", view(naive_plot_view), name="naive_classification_plot"
        ),
    ]


admin_page_register(
    AdminPage(
        app_label="naive_classification",
        app_name="Naive classification",
        name="Dataset and models",
        url_name="naive_classification",
        urls=naive_urls,
    )
)
