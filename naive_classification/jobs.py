"""The naive classifier's background jobs, on the one job mechanism (muses.jobs): queue a
dataset export or a training (the admin page and the commands call these), and run them
in a queue worker with progress, heartbeats and cancel."""

from __future__ import annotations

import io

from exporters import get_exporter
from muses.jobs.services import job_enqueue, job_progress, job_run, job_succeed
from naive_classification.models import NaiveJob
from naive_classification.services import classifier_train

NAIVE_TASK = "naive_classification.tasks.naive_job_task"
NAIVE_HOOK = "naive_classification.tasks.naive_job_hook"
EXPORT_OPTIONS = ("exporter", "max_images", "output")
TRAINING_OPTIONS = (
    "model_name",
    "epochs",
    "fine_tuning",
    "model_type",
    "target_size",
    "weights",
    "plot_performance",
)


def naive_job_enqueue(*, kind: str, options: dict, user=None) -> NaiveJob:
    """Create the job (listed on the admin page and at /status at once), then queue it."""
    job = NaiveJob.objects.create(kind=kind, options=options, requested_by=user)
    task_name = f"naive {job.name}"[:100]
    job_enqueue(job=job, func=NAIVE_TASK, hook=NAIVE_HOOK, task_name=task_name)
    job.refresh_from_db()
    return job


def dataset_export_enqueue(
    *, exporter: str = "naive", max_images: int | None = None, output: str | None = None, user=None
) -> NaiveJob:
    """Queue an export of the collection as a labelled dataset (the exporter plugin)."""
    options = {"exporter": exporter, "max_images": max_images, "output": output}
    return naive_job_enqueue(kind=NaiveJob.Kind.EXPORT, options=options, user=user)


def classifier_train_enqueue(*, options: dict, user=None) -> NaiveJob:
    """Queue a training with classifier_train's options (model_name, epochs, ...)."""
    unknown = set(options) - set(TRAINING_OPTIONS)
    if unknown:
        raise ValueError(f"unknown training options: {', '.join(sorted(unknown))}")
    return naive_job_enqueue(kind=NaiveJob.Kind.TRAINING, options=dict(options), user=user)


def naive_job_run(*, job_pk: int) -> NaiveJob | None:
    """Run a queued export or training; a failure ends in state 'error' with its message,
    a cancel stops it at its next progress point (the previous dataset or model stays)."""
    return job_run(model=NaiveJob, pk=job_pk, work=_naive_work)


def _naive_work(job: NaiveJob) -> None:
    def progress(fraction: float) -> None:
        job_progress(model=NaiveJob, pk=job.pk, fraction=fraction)

    work = _export if job.kind == NaiveJob.Kind.EXPORT else _train
    job_succeed(model=NaiveJob, pk=job.pk, result=work(job.options, progress))


def _export(options: dict, progress) -> dict:
    exporter = get_exporter(options.get("exporter") or "naive")
    kwargs = {"max_images": options["max_images"]} if options.get("max_images") else {}
    out = io.StringIO()
    report = exporter.do_export(
        **kwargs, output=options.get("output"), out=out, progress=False, on_progress=progress
    )
    return {
        "images": len(report.entries),
        "output": str(report.output),
        "report": out.getvalue()[-5000:],
    }


def _train(options: dict, progress) -> dict:
    result = classifier_train(**options, progress=False, on_progress=progress)
    evaluation = result.evaluation
    return {
        "model_path": str(result.model_path),
        "model_name": options["model_name"],
        "plots": [str(plot) for plot in result.plots],
        "accuracy": evaluation.accuracy if evaluation is not None else None,
        "evaluation": evaluation.table() if evaluation is not None else "",
    }
