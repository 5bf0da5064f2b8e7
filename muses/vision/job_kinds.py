"""The kinds of vision job run on the one job mechanism (muses.jobs): the near-duplicate
search a curator starts from the admin, with progress, heartbeats and cancel."""

from muses.jobs.services import job_enqueue, job_progress, job_run, job_succeed
from muses.vision.models import VisionJob
from muses.vision.near_duplicates import duplicates_find

VISION_TASK = "muses.vision.tasks.vision_job_task"
VISION_HOOK = "muses.vision.tasks.vision_job_hook"


def duplicates_find_enqueue(*, user=None) -> VisionJob:
    """Queue a near-duplicate search over the whole collection (followed at /status)."""
    job = VisionJob.objects.create(kind=VisionJob.Kind.NEAR_DUPLICATES, requested_by=user)
    job_enqueue(job=job, func=VISION_TASK, hook=VISION_HOOK, task_name="near-duplicates")
    job.refresh_from_db()
    return job


def vision_job_run(*, job_pk: int) -> VisionJob | None:
    return job_run(model=VisionJob, pk=job_pk, work=_near_duplicates)


def _near_duplicates(job: VisionJob) -> None:
    def progress(fraction: float) -> None:
        job_progress(model=VisionJob, pk=job.pk, fraction=fraction)

    report = duplicates_find(on_progress=progress)
    result = {
        "pairs": report.pairs,
        "groups_created": report.groups_created,
        "groups_grown": report.groups_grown,
        "images": len(report.images),
    }
    job_succeed(model=VisionJob, pk=job.pk, result=result)
