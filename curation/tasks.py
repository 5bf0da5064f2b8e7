"""django-q2 tasks of curation: module-level functions taking primary keys, queued by
dotted path. The job service records every failure on the job and returns normally; the
hook catches what it cannot (a timeout, a crash outside our code)."""

from curation.jobs import curation_job_run
from curation.models import CurationJob
from muses.jobs.services import job_task_failed


def curation_job_task(job_pk: int) -> str:
    job = curation_job_run(job_pk=job_pk)
    return job.state if job is not None else "missing"


def curation_job_hook(task) -> None:
    if not task.success and task.args:
        job_task_failed(model=CurationJob, pk=task.args[0], result=task.result)
