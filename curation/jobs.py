"""Curation's background jobs on the one job mechanism (muses.jobs): the map layout (queued
from the admin's map page) and the likely-label-error reports (queued when a report of the
current labels is asked for and not cached), run in a queue worker with progress,
heartbeats and cancel."""

from curation.models import CurationJob
from curation.services.collection_map import map_layout_compute
from curation.services.label_issue_reports import label_issues_compute
from muses.jobs.services import job_enqueue, job_progress, job_run, job_succeed

CURATION_TASK = "curation.tasks.curation_job_task"
CURATION_HOOK = "curation.tasks.curation_job_hook"


def map_layout_enqueue(*, method: str | None = None, user=None) -> CurationJob:
    """Queue a new layout of the whole map (followed at /status/<task_id>)."""
    job = CurationJob.objects.create(
        kind=CurationJob.Kind.MAP_LAYOUT, options={"method": method}, requested_by=user
    )
    job_enqueue(job=job, func=CURATION_TASK, hook=CURATION_HOOK, task_name="map layout")
    job.refresh_from_db()
    return job


def label_issues_enqueue(*, job: CurationJob) -> CurationJob:
    """Queue a created label-issue job (options {"report": "naive"|"tag", "tag_pk": ...})."""
    job_enqueue(job=job, func=CURATION_TASK, hook=CURATION_HOOK, task_name="label issues")
    job.refresh_from_db()
    return job


def curation_job_run(*, job_pk: int) -> CurationJob | None:
    """Run a queued job; a failure (no features yet, too few labels) ends in state 'error'
    with its message, a cancel before the new map points are written keeps the old map."""
    return job_run(model=CurationJob, pk=job_pk, work=_work)


def _work(job: CurationJob) -> None:
    if job.kind == CurationJob.Kind.LABEL_ISSUES:
        _label_issues(job)
    else:
        _map_layout(job)


def _label_issues(job: CurationJob) -> None:
    def progress(fraction: float) -> None:
        job_progress(model=CurationJob, pk=job.pk, fraction=0.1 + 0.85 * fraction)

    def publish(report) -> bool:
        result = {"issues": len(report.issues), "examples": report.examples}
        return job_succeed(model=CurationJob, pk=job.pk, result=result)

    progress(0.0)
    label_issues_compute(
        subject=job.options["report"],
        tag_pk=job.options.get("tag_pk"),
        progress=progress,
        publish=publish,
    )


def _map_layout(job: CurationJob) -> None:
    def progress(fraction: float) -> None:
        job_progress(model=CurationJob, pk=job.pk, fraction=fraction)

    points = map_layout_compute(method=job.options.get("method"), on_progress=progress)
    job_succeed(model=CurationJob, pk=job.pk, result={"points": points})
