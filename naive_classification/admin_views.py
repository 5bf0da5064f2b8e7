"""The naive classification page: the exported dataset, the export and training jobs (queued
here, followed live), and the trained models with their plots. What the page summarises is
computed in :mod:`naive_classification.summaries`."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from rest_framework.exceptions import APIException

from exporters.dataset import SPLITS
from muses.admin_tools import can_change_images, page_view
from muses.jobs.models import JobState
from muses.jobs.services import job_cancel, job_expire_if_stale
from naive_classification.admin_forms import ExportForm, TrainForm
from naive_classification.jobs import classifier_train_enqueue, dataset_export_enqueue
from naive_classification.models import NaiveJob
from naive_classification.summaries import (
    PLOT_NAME_RE,
    configured_model,
    dataset_summary,
    labelling_summary,
    saved_models,
)

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
        "can_run_jobs": can_change_images(request),
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
    if not can_change_images(request):
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
    if not can_change_images(request):
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
    if not can_change_images(request):
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
    base = "naive-classification/"
    return [
        path(base, page_view(site, naive_page_view), name="naive_classification"),
        path(
            f"{base}export/",
            page_view(site, naive_export_view, post=True),
            name="naive_classification_export",
        ),
        path(
            f"{base}train/",
            page_view(site, naive_train_view, post=True),
            name="naive_classification_train",
        ),
        path(
            f"{base}tasks/<str:task_id>/",
            page_view(site, naive_task_view),
            name="naive_classification_task",
        ),
        path(
            f"{base}tasks/<str:task_id>/cancel/",
            page_view(site, naive_task_cancel_view, post=True),
            name="naive_classification_task_cancel",
        ),
        path(
            f"{base}plots/<str:filename>",
            page_view(site, naive_plot_view),
            name="naive_classification_plot",
        ),
    ]
