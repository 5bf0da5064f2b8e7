"""django-q2 tasks of the naive classifier: module-level functions taking primary keys,
queued by dotted path. The service records every failure on the job and returns normally;
the hook catches what it cannot (a timeout, a crash outside our code)."""

from muses.jobs.services import job_task_failed
from naive_classification.jobs import naive_job_run
from naive_classification.models import NaiveJob


def naive_job_task(job_pk: int) -> str:
    job = naive_job_run(job_pk=job_pk)
    return job.state if job is not None else "missing"


def naive_job_hook(task) -> None:
    if not task.success and task.args:
        job_task_failed(model=NaiveJob, pk=task.args[0], result=task.result)
