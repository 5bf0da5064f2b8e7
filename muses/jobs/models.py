"""The abstract job every background task's model extends, and the registry of them all."""

import uuid

from django.apps import apps
from django.conf import settings
from django.db import models


def new_task_id() -> str:
    return uuid.uuid4().hex


class JobState(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"
    CANCELLED = "cancelled"


UNFINISHED_STATES = (JobState.QUEUED, JobState.RUNNING)


class Job(models.Model):
    """Background work followed through `/status/<task_id>`. A concrete job names its
    ``kind`` (a class attribute, or a field when one model runs several kinds)."""

    task_id = models.CharField(max_length=32, unique=True, default=new_task_id)
    state = models.CharField(
        max_length=10, choices=JobState.choices, default=JobState.QUEUED, db_index=True
    )
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    # Stamped every few seconds by the worker running the job (not in sync mode): a job
    # whose stamp stops lost its worker (SIGKILL, out of memory); see job_expire_if_stale.
    heartbeat = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.task_id} {self.state}"

    @property
    def is_finished(self) -> bool:
        return self.state not in UNFINISHED_STATES

    def status_fields(self) -> dict:
        """What /status shows of this kind beside the fields every job has."""
        return {}


def job_models() -> list[type[Job]]:
    """Every concrete job model of the installed apps: look-ups by task_id and the job
    list find each kind without the apps above registering anything."""
    return [model for model in apps.get_models() if issubclass(model, Job)]
