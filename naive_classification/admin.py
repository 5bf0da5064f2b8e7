"""The naive classifier in the admin: each image's naive label (the exporter's own rule, with
the word that decided it), a filter by it, the curator's class, and one page for the exported
dataset, the export and training jobs, and the trained models with their plots."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_q.models import OrmQ, Task
from django_q.tasks import async_task

from exporters.dataset import INFO_NAME, SPLITS, DatasetMissing, read_manifest
from exporters.naive import muses_exporter_plugin as exporter
from exporters.naive.labels import SKIP_AMBIGUOUS, SKIP_NO_MATCH, Label
from muses.admin_site import AdminPage, action_form, action_form_page, admin_page_register
from naive_classification import definitions, services
from naive_classification.persistence import (
    MODEL_SUFFIX,
    ModelFileError,
    check_model_name,
    read_metadata,
    resolve_model_path,
)

# (title, object type) pairs whose label is remembered; a collection repeats them a lot.
LABEL_CACHE_SIZE = 200_000
NO_RECORD = "no record and no curator class"
FILTER_NO_WORD = "_no_word"
FILTER_AMBIGUOUS = "_ambiguous"

# --- naive labels -----------------------------------------------------------------------


class CachedLabeller:
    """The exporter's labeller, remembering the label of each (title, object type)."""

    def __init__(self, naive):
        self._naive = naive
        self._by_record = lru_cache(maxsize=LABEL_CACHE_SIZE)(self._label)

    def label(self, record):
        return self._by_record(record.get("title") or "", record.get("object_type") or "")

    def _label(self, title: str, object_type: str):
        return self._naive.label({"title": title, "object_type": object_type})


@lru_cache(maxsize=1)
def cached_labeller() -> CachedLabeller:
    return CachedLabeller(exporter.labeller())


def naive_label(image) -> Label:
    """What the next export decides for this image: the curator's class, else the class
    words of its record (``image`` needs ``curator_class`` and ``item``)."""
    if image.item is None and not image.curator_class:
        return Label(None, skipped=NO_RECORD)
    return exporter.label_image(image, cached_labeller())


@dataclass(frozen=True)
class _Record:
    title: str
    object_type: str


@dataclass(frozen=True)
class _ImageRow:
    curator_class: str
    item: _Record | None


def naive_labels(queryset):
    """(pk, Label) of every image in the queryset, from one query of plain values."""
    rows = (
        queryset.prefetch_related(None)
        .order_by()
        .values_list("pk", "curator_class", "item_id", "item__title", "item__object_type")
    )
    for pk, curator_class, item_id, title, object_type in rows.iterator(chunk_size=5000):
        record = _Record(title or "", object_type or "") if item_id else None
        yield pk, naive_label(_ImageRow(curator_class, record))


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
    count = services.images_set_curator_class(images=queryset, class_name=class_name)
    done = f"set to “{class_name}”" if class_name else "cleared"
    modeladmin.message_user(request, f"Curator class {done} on {count} images.", messages.SUCCESS)
    return None


# --- the naive classification page: dataset ----------------------------------------------


@dataclass
class DatasetSummary:
    root: Path
    exists: bool
    info: dict = field(default_factory=dict)
    rows: list[list] = field(default_factory=list)  # class, per split..., total
    totals: list[int] = field(default_factory=list)


def dataset_summary(root: Path | None = None) -> DatasetSummary:
    """Per-class image counts per split, from the exported dataset's manifest."""
    root = Path(root or settings.MUSES_DATASET_DIR)
    try:
        manifest = read_manifest(root)
    except DatasetMissing:
        return DatasetSummary(root, exists=False)
    counts = Counter((row["class"], row["split"]) for row in manifest)
    names = definitions.class_names() + sorted(
        {r["class"] for r in manifest} - set(definitions.classes)
    )
    rows = [[name, *(counts[(name, s)] for s in SPLITS)] for name in names]
    rows = [row + [sum(row[1:])] for row in rows]
    totals = [sum(row[i] for row in rows) for i in range(1, len(SPLITS) + 2)]
    return DatasetSummary(root, True, _dataset_info(root), rows, totals)


def _dataset_info(root: Path) -> dict:
    try:
        return json.loads((root / INFO_NAME).read_text())
    except (OSError, ValueError):
        return {}


@dataclass
class LabellingSummary:
    """What the next export would label, counted over the collection as it is now."""

    by_words: Counter = field(default_factory=Counter)
    by_curator: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    prioritised: int = 0  # records naming several classes, decided by class_priority

    def rows(self) -> list[tuple[str, int, int]]:
        return [(n, self.by_words[n], self.by_curator[n]) for n in definitions.class_names()]

    def skipped_rows(self) -> list[tuple[str, int]]:
        # A Counter answers 0 for "items" in a template: hand it over as a list.
        return sorted(self.skipped.items())


def labelling_summary() -> LabellingSummary:
    summary = LabellingSummary()
    for _, label in naive_labels(exporter.candidate_images()):
        if label.class_name is None:
            summary.skipped[label.skipped] += 1
        elif label.field == exporter.CURATOR_FIELD:
            summary.by_curator[label.class_name] += 1
        else:
            summary.by_words[label.class_name] += 1
            summary.prioritised += len(label.candidates) > 1
    return summary


# --- the naive classification page: models ------------------------------------------------


@dataclass
class SavedModel:
    name: str
    path: Path
    size: int
    modified: datetime
    metadata: dict
    error: str = ""
    plots: list[str] = field(default_factory=list)
    configured: bool = False

    @property
    def evaluation(self) -> dict | None:
        return self.metadata.get("evaluation")

    @property
    def epochs(self) -> int:
        return sum(
            len(p.get("history", {}).get("loss", [])) for p in self.metadata.get("history", [])
        )


def configured_model() -> tuple[str, Path | None, str]:
    """(configured value, resolved file or None, problem) of the model muses_classify uses."""
    value = settings.MUSES_CONFIG["classification"]["naive_classification"]["model_path"]
    if not value:
        return "", None, ""
    try:
        return value, resolve_model_path(value), ""
    except ModelFileError as exc:
        return value, None, str(exc)


def saved_models() -> list[SavedModel]:
    """The models in MUSES_MODEL_DIR, newest first, with their metadata and plots."""
    folder = Path(settings.MUSES_MODEL_DIR)
    _, configured, _ = configured_model()
    files = sorted(folder.glob(f"*{MODEL_SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
    return [_saved_model(p, configured) for p in files if not p.name.startswith(".")]


def _saved_model(path: Path, configured: Path | None) -> SavedModel:
    stat = path.stat()
    try:
        metadata, error = read_metadata(path), ""
    except ModelFileError as exc:
        metadata, error = {}, str(exc)
    return SavedModel(
        name=path.stem,
        path=path,
        size=stat.st_size,
        modified=datetime.fromtimestamp(stat.st_mtime, UTC),
        metadata=metadata,
        error=error,
        plots=model_plots(path.stem),
        configured=configured is not None and path.resolve() == configured.resolve(),
    )


PLOT_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,150}\.png\Z")


def model_plots(stem: str) -> list[str]:
    """File names in MUSES_PLOT_DIR of the model's curves and confusion matrix."""
    names = [f"{stem}.png", f"{stem}_confusion.png"]
    return [n for n in names if (Path(settings.MUSES_PLOT_DIR) / n).is_file()]


# --- the naive classification page: jobs --------------------------------------------------

EXPORT_FUNC = "django.core.management.call_command"
EXPORT_COMMAND = "muses_export_classification_data"
TRAIN_FUNC = "naive_classification.tasks.train_model_task"
TASK_PREFIX = "naive "
FINISHED_STATES = ("success", "error")


def dataset_export_enqueue(*, max_images: int | None = None) -> str:
    """Queue the naive exporter (the management command) as a django-q2 task."""
    options = {"exporter": "naive", "verbosity": 0}
    if max_images:
        options["max_images"] = max_images
    return async_task(EXPORT_FUNC, EXPORT_COMMAND, **options, task_name=f"{TASK_PREFIX}export")


def classifier_train_enqueue(**job) -> str:
    return async_task(TRAIN_FUNC, **job, task_name=f"{TASK_PREFIX}train {job['model_name']}"[:100])


def queue_task_state(task_id: str) -> dict:
    """A django-q2 task's state: finished ones are in Task; the ORM broker's queue says
    whether an unfinished one waits or was taken by a worker (Redis does not tell)."""
    task = Task.objects.filter(id=task_id).first()
    if task is not None:
        return {
            "task_id": task_id,
            "name": task.name,
            "state": "success" if task.success else "error",
            "result": _result_text(task.result),
            "error": "" if task.success else _result_text(task.result),
            "finished": task.stopped.isoformat() if task.stopped else None,
        }
    return {"task_id": task_id, "state": _queued_state(task_id), "result": ""}


def _queued_state(task_id: str) -> str:
    for row in OrmQ.objects.order_by("-id")[:500]:
        if row.task_id() == task_id:
            return "running" if row.lock and row.lock > timezone.now() else "queued"
    return "queued"


def _result_text(result) -> str:
    text = "" if result is None else str(result)
    return text.split(" : Traceback")[0][:2000]


def recent_tasks(limit: int = 10) -> list[dict]:
    """The naive page's jobs: unfinished ones first (ORM broker only), then the latest."""
    queued = [
        {"task_id": row.task_id(), "name": row.name(), "state": _queued_state(row.task_id())}
        for row in OrmQ.objects.order_by("-id")[:200]
        if str(row.name() or "").startswith(TASK_PREFIX)
    ]
    done = Task.objects.filter(name__startswith=TASK_PREFIX).order_by("-stopped")[:limit]
    return queued + [queue_task_state(task.id) for task in done]


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
        "tasks": recent_tasks(),
        "watched": _watched_task(request),
        "can_run_jobs": can_run_jobs(request.user),
        "train_form": extra.pop("train_form", None) or TrainForm(),
        "export_form": extra.pop("export_form", None) or ExportForm(),
        "queue_admin_url": _queue_admin_url(),
        **extra,
    }


def _watched_task(request) -> dict | None:
    """The job just queued from this page (?task=<id>), in its current state."""
    task_id = request.GET.get("task", "")
    if not task_id:
        return None
    return {
        **queue_task_state(task_id),
        "url": reverse("admin:naive_classification_task", args=[task_id]),
    }


def _queue_admin_url() -> str:
    return reverse("admin:app_list", args=["django_q"])


def naive_page_view(request, site):
    return TemplateResponse(
        request, "admin/naive_classification/page.html", _page_context(request, site)
    )


def _enqueue_and_watch(request, enqueue, what: str) -> HttpResponseRedirect:
    """Queue the job and come back to the page watching it. With a synchronous queue
    (MUSES_Q_SYNC) the job runs right here, and its failure reaches us as an exception."""
    page = reverse("admin:naive_classification")
    try:
        task_id = enqueue()
    except Exception as exc:
        messages.error(request, f"{what} failed: {_result_text(str(exc))}")
        return HttpResponseRedirect(page)
    messages.success(request, f"{what} was queued.")
    return HttpResponseRedirect(f"{page}?task={task_id}")


def naive_export_view(request, site):
    if not can_run_jobs(request.user):
        raise PermissionDenied
    form = ExportForm(request.POST)
    if not form.is_valid():
        context = _page_context(request, site, export_form=form)
        return TemplateResponse(request, "admin/naive_classification/page.html", context)
    return _enqueue_and_watch(
        request,
        lambda: dataset_export_enqueue(max_images=form.cleaned_data["max_images"]),
        "The dataset export",
    )


def naive_train_view(request, site):
    if not can_run_jobs(request.user):
        raise PermissionDenied
    form = TrainForm(request.POST)
    if not form.is_valid():
        context = _page_context(request, site, train_form=form)
        return TemplateResponse(request, "admin/naive_classification/page.html", context)
    job = form.job()
    return _enqueue_and_watch(
        request, lambda: classifier_train_enqueue(**job), f"Training of {job['model_name']}"
    )


def naive_task_view(request, site, task_id: str):
    return JsonResponse(queue_task_state(task_id))


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
