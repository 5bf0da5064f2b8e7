"""The job mechanism every background task uses: queue a job's task, start it, report
progress (where a cancel is noticed), succeed or fail, stamp heartbeats from a worker, and
tell a job whose worker died or that no worker takes (staleness and expiry).

A concrete job model extends :class:`muses.jobs.models.Job`; its task calls
:func:`job_run` with the work to do.
"""

import logging
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection as db_connection
from django.utils import timezone
from django_q.tasks import async_task

from muses.jobs import exceptions as errors
from muses.jobs.models import UNFINISHED_STATES, Job, JobState, job_models
from muses.jobs.workers import job_is_unserved

logger = logging.getLogger(__name__)

# A running job older than the queue's timeout plus this margin lost its worker.
STALE_MARGIN_S = 120
# How long a worker waits for a job row it cannot see yet.
JOB_ROW_WAIT_S = 10.0


def job_enqueue(*, job: Job, func: str, hook: str, task_name: str) -> None:
    """Queue the job's django-q2 task (``func(job.pk)``, then ``hook(task)``); a broker
    that is down fails the job at once and answers 503."""
    try:
        async_task(func, job.pk, hook=hook, task_name=task_name)
    except Exception as exc:  # the broker is down: the job must not wait forever
        job_fail(model=type(job), pk=job.pk, message=f"Could not queue the task: {exc}")
        raise errors.QueueUnavailable(f"The job queue is not available: {exc}")


def error_message(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def job_get(*, task_id: str) -> Job:
    """The job of any kind with this task id, expired first if its worker is gone."""
    for model in job_models():
        job = model.objects.filter(task_id=task_id).first()
        if job is not None:
            return job_expire_if_stale(job)
    raise errors.JobNotFound(f"No task with task_id {task_id[:64]!r}.")


def job_start(*, model, pk: int) -> bool:
    """Queued -> running; False when the job was cancelled or already taken. A worker can
    see the task before the job row is committed (a caller inside a transaction), so a
    missing row is waited for a little."""
    deadline = time.monotonic() + JOB_ROW_WAIT_S
    while True:
        started = model.objects.filter(pk=pk, state=JobState.QUEUED).update(
            state=JobState.RUNNING, started=timezone.now(), progress=0.0
        )
        if started or model.objects.filter(pk=pk).exists() or time.monotonic() > deadline:
            return bool(started)
        time.sleep(0.2)


def job_progress(*, model, pk: int, fraction: float) -> None:
    """Record progress; raises JobCancelled when someone cancelled the job meanwhile."""
    updated = model.objects.filter(pk=pk, state=JobState.RUNNING).update(
        progress=round(min(max(fraction, 0.0), 1.0), 3)
    )
    if not updated:
        raise errors.JobCancelled()


def job_run(*, model: type[Job], pk: int, work: Callable[[Job], None]) -> Job | None:
    """Run a queued job's work with heartbeats: a cancel seen at a progress point ends it
    quietly, any other failure ends it in state 'error' with its message. The work
    records the job's success itself (with job_succeed), atomically with its result."""
    if not job_start(model=model, pk=pk):
        return model.objects.filter(pk=pk).first()
    job = model.objects.get(pk=pk)
    try:
        with job_heartbeat(model=model, pk=pk):
            work(job)
    except errors.JobCancelled:
        pass
    except Exception as exc:
        logger.warning("%s job %s failed: %s", model.__name__, job.task_id, exc)
        job_fail(model=model, pk=pk, message=error_message(exc))
    job.refresh_from_db()
    if job.state != JobState.ERROR:  # a failure was logged above, with its message
        logger.info("%s job %s %s", job.kind, job.task_id, job.state)
    return job


def job_succeed(*, model: type[Job], pk: int, **fields) -> bool:
    """Running -> success with these result fields; False when the job was cancelled."""
    return bool(
        model.objects.filter(pk=pk, state=JobState.RUNNING).update(
            state=JobState.SUCCESS, progress=1.0, finished=timezone.now(), **fields
        )
    )


def job_fail(*, model, pk: int, message: str) -> None:
    model.objects.filter(pk=pk, state__in=UNFINISHED_STATES).update(
        state=JobState.ERROR, error=message[:5000], finished=timezone.now()
    )


def job_cancel(*, task_id: str) -> Job:
    """Cancel a queued or running job: a queued one never starts, a running one stops at
    its next progress report and leaves nothing behind."""
    job = job_get(task_id=task_id)
    cancelled = (
        type(job)
        .objects.filter(pk=job.pk, state__in=UNFINISHED_STATES)
        .update(state=JobState.CANCELLED, finished=timezone.now(), error="Cancelled on request.")
    )
    if not cancelled:
        raise errors.JobNotCancellable(f"The task is already {job.state}; it cannot be cancelled.")
    job.refresh_from_db()
    return job


def jobs_expire_stale() -> int:
    """Expire every unfinished job of every kind that lost its worker, so a list filtered
    by state agrees with /status. Unfinished jobs are few: a query per kind, and one per
    such job. Returns how many were expired."""
    expired = 0
    for model in job_models():
        for job in model.objects.filter(state__in=UNFINISHED_STATES):
            expired += job_expire_if_stale(job).state == JobState.ERROR
    return expired


def job_expire_if_stale(job):
    """A job still 'running' whose worker's heartbeat stopped, or long after the queue's
    timeout, lost its worker (killed, out of memory): say so instead of showing it running
    forever. django-q2 records nothing when a worker process dies mid-task, and with the
    Redis broker the task is not delivered again. A job still 'queued' that no worker
    will take (none alive, or all idle yet not taking it) fails too (muses.jobs.workers)."""
    if job.state == JobState.QUEUED:
        return _job_fail_if_unserved(job)
    if job.state != JobState.RUNNING or not _job_is_stale(job):
        return job
    type(job).objects.filter(pk=job.pk, state=JobState.RUNNING).update(
        state=JobState.ERROR,
        finished=timezone.now(),
        error="The worker stopped without reporting (killed or timed out).",
    )
    job.refresh_from_db()
    return job


def _job_fail_if_unserved(job):
    reason = job_is_unserved(job)
    if reason:
        type(job).objects.filter(pk=job.pk, state=JobState.QUEUED).update(
            state=JobState.ERROR, finished=timezone.now(), error=reason
        )
        job.refresh_from_db()
    return job


def _job_is_stale(job) -> bool:
    if job.started is not None and job.started <= _stale_before():
        return True
    stale_s = settings.MUSES_JOB_HEARTBEAT_STALE_S
    return job.heartbeat is not None and job.heartbeat <= timezone.now() - timedelta(
        seconds=stale_s
    )


def _stale_before():
    timeout = int(settings.Q_CLUSTER.get("timeout") or 3600)
    return timezone.now() - timedelta(seconds=timeout + STALE_MARGIN_S)


@contextmanager
def job_heartbeat(*, model, pk: int):
    """In a queue worker, a thread stamps the running job's heartbeat every
    MUSES_JOB_HEARTBEAT_S seconds until the block ends, so a status read can tell a slow
    job from one whose worker died. In sync mode the job runs inside the request and
    nothing is stamped: only the queue's timeout applies."""
    if settings.Q_CLUSTER.get("sync"):
        yield
        return
    interval = settings.MUSES_JOB_HEARTBEAT_S
    stop = threading.Event()

    def beat() -> None:
        try:
            while True:
                try:
                    model.objects.filter(pk=pk, state=JobState.RUNNING).update(
                        heartbeat=timezone.now()
                    )
                except Exception as exc:  # the database is away a moment: beat again later
                    logger.warning("heartbeat of job %s failed: %s", pk, exc)
                    db_connection.close()
                if stop.wait(interval):
                    return
        finally:
            db_connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"job-heartbeat-{pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def job_task_failed(*, model, pk: int, result: object) -> None:
    """django-q2 reported the task itself as failed (timeout, crash outside our handler)."""
    text = str(result or "The task failed.")
    job_fail(model=model, pk=pk, message=text.split(" : Traceback")[0][:2000])
