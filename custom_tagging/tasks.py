"""django-q2 tasks: module-level functions taking primary keys, queued by dotted path.

The services record every failure on the job themselves and return normally, so a task
never raises (in sync mode a raise would reach the web request). The hooks catch what the
services cannot: a task that django-q2 reports failed (timeout, crash outside our code).
"""

from custom_tagging.jobs import library_prediction_run, training_job_run
from custom_tagging.models import PredictionJob, TrainingJob
from muses.jobs.services import job_task_failed


def tag_train_task(job_pk: int) -> str:
    job = training_job_run(job_pk=job_pk)
    return job.state if job is not None else "missing"


def library_predict_task(job_pk: int) -> str:
    job = library_prediction_run(job_pk=job_pk)
    return job.state if job is not None else "missing"


def tag_train_hook(task) -> None:
    if not task.success and task.args:
        job_task_failed(model=TrainingJob, pk=task.args[0], result=task.result)


def library_predict_hook(task) -> None:
    if not task.success and task.args:
        job_task_failed(model=PredictionJob, pk=task.args[0], result=task.result)
