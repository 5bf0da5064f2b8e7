"""Custom tagging's background jobs on the one job mechanism (muses.jobs): a tag's training
and the library-wide prediction, queued here and run in a queue worker (custom_tagging.tasks)
with progress, heartbeats and cancel; followed at /status/<task_id>."""

from django.db import transaction

from custom_tagging import exceptions as errors
from custom_tagging.models import CustomTag, PredictionJob, TrainingJob
from custom_tagging.services.library import library_predict
from custom_tagging.services.predictions import models_for_names
from custom_tagging.services.training import tag_train, training_data_check
from muses.jobs.models import UNFINISHED_STATES
from muses.jobs.services import job_enqueue, job_expire_if_stale, job_run

TRAIN_TASK = "custom_tagging.tasks.tag_train_task"
TRAIN_HOOK = "custom_tagging.tasks.tag_train_hook"
LIBRARY_TASK = "custom_tagging.tasks.library_predict_task"
LIBRARY_HOOK = "custom_tagging.tasks.library_predict_hook"


def tag_train_enqueue(*, tag: CustomTag, user=None) -> TrainingJob:
    """Create the job (visible in /status at once), then queue its django-q2 task."""
    training_data_check(tag=tag)
    with transaction.atomic():
        CustomTag.objects.select_for_update().filter(pk=tag.pk).first()
        running = tag.jobs.filter(state__in=UNFINISHED_STATES).first()
        if running is not None and job_expire_if_stale(running).state in UNFINISHED_STATES:
            raise errors.TrainingInProgress(
                f"A training of {tag.name!r} is already {running.state} "
                f"(task_id {running.task_id})."
            )
        job = TrainingJob.objects.create(tag=tag, tag_name=tag.name, requested_by=user)
    job_enqueue(job=job, func=TRAIN_TASK, hook=TRAIN_HOOK, task_name=f"train {tag.name}"[:100])
    job.refresh_from_db()
    return job


def training_job_run(*, job_pk: int) -> TrainingJob | None:
    """Run a queued training; any failure ends in state 'error' with its message and the
    tag's previous version stays active."""
    return job_run(model=TrainingJob, pk=job_pk, work=_training_work)


def _training_work(job: TrainingJob) -> None:
    if job.tag is None:
        raise errors.TagNotFound("The tag was reset before its training started.")
    tag_train(tag=job.tag, job=job)


def library_prediction_create(*, tag_names: list[str] | None = None, user=None) -> PredictionJob:
    """Queue scoring of every stored image by the chosen tags (all trained tags if none)."""
    models = models_for_names(tag_names=tag_names)
    if len(models) == 0:
        raise errors.TagNotTrained("No tag has a trained version yet: train one first.")
    job = PredictionJob.objects.create(tag_names=models.tag_names, requested_by=user)
    job_enqueue(job=job, func=LIBRARY_TASK, hook=LIBRARY_HOOK, task_name="library prediction")
    job.refresh_from_db()
    return job


def library_prediction_run(*, job_pk: int) -> PredictionJob | None:
    return job_run(model=PredictionJob, pk=job_pk, work=library_predict)
