"""Is a queue worker there to take the jobs?

django-q2's cluster stats (``Stat.get_all()``, kept in the broker's cache) list the live
clusters and their worker processes. Each worker process also stamps, in the same cache,
whether it is running a task. A job that waits while no worker is alive, or while every
live worker is idle (a healthy idle worker takes a task within a second: one killed while
waiting can leave django-q2's in-process queue locked), will not run: /status, the admin
and `manage.py check` say so after QUEUE_WARN_S, and after MUSES_JOB_QUEUE_STALE_S the job
is reported failed, so that a new training of the tag is not blocked by it.
"""

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

logger = logging.getLogger(__name__)

QUEUE_WARN_S = 5.0
STAMP_EVERY_S = 5.0
STAMP_TTL_S = 20
# A worker that finished a task this recently counts as busy: it is about to take the next
# one (between two tasks it is idle for a moment, and a job must not fail in that moment).
RECENT_TASK_S = 10.0
NO_WORKER = "no worker is running: start `manage.py qcluster`"
WORKERS_STUCK = (
    "the queue's workers are idle but have not taken it (a worker killed while waiting "
    "can lock django-q2's queue): restart `manage.py qcluster`"
)

_busy = threading.Event()
_finished = [0.0]  # when this worker process last finished a task
_stamper: list[threading.Thread] = []


@dataclass(frozen=True)
class QueueHealth:
    workers_alive: int
    workers_busy: int

    @property
    def problem(self) -> str:
        """Why a waiting job would not be taken ('' when a worker can take it)."""
        if self.workers_alive == 0:
            return NO_WORKER
        return WORKERS_STUCK if self.workers_busy == 0 else ""


def queue_health() -> QueueHealth:
    """Live worker processes of every cluster, and how many of them run a task now."""
    from django_q.conf import Conf
    from django_q.status import Stat

    try:
        stats = Stat.get_all()
    except Exception as exc:  # the broker or its cache is away: no worker can be seen
        logger.warning("cannot read the queue's cluster stats: %s", exc)
        return QueueHealth(0, 0)
    live = [s for s in stats if s.status in (Conf.STARTING, Conf.IDLE, Conf.WORKING)]
    keys = [_stamp_key(s.host, pid) for s in live for pid in s.workers]
    stamps = cache.get_many(keys) if keys else {}
    now = time.time()
    busy = sum(
        1
        for stamp in stamps.values()
        if stamp.get("busy") or now - stamp.get("finished", 0.0) < RECENT_TASK_S
    )
    return QueueHealth(len(keys), busy)


def jobs_run_in_process() -> bool:
    return bool(settings.Q_CLUSTER.get("sync"))


def job_waiting_problem(job) -> str:
    """For a job queued longer than QUEUE_WARN_S: why no worker takes it ('' if one can)."""
    if job.state != "queued" or jobs_run_in_process() or job.created > _ago(QUEUE_WARN_S):
        return ""
    return queue_health().problem


def job_is_unserved(job) -> str:
    """The reason to report a queued job failed: waiting past MUSES_JOB_QUEUE_STALE_S while
    no worker is busy, i.e. none will take it ('' otherwise)."""
    stale_s = settings.MUSES_JOB_QUEUE_STALE_S
    if job.state != "queued" or jobs_run_in_process() or job.created > _ago(stale_s):
        return ""
    problem = queue_health().problem
    if not problem:
        return ""
    return f"No queue worker took the job within {stale_s:.0f} s: {problem}."


def waiting_jobs_problem() -> str:
    """For `manage.py check`, the admin and the landing page: '' unless a job waits in vain."""
    from muses.jobs.models import JobState, job_models

    if jobs_run_in_process():
        return ""
    waiting = any(
        model.objects.filter(state=JobState.QUEUED, created__lte=_ago(QUEUE_WARN_S)).exists()
        for model in job_models()
    )
    return queue_health().problem if waiting else ""


def _ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def _stamp_key(host: str, pid: int) -> str:
    return f"muses:queue-worker:{host}:{pid}"


# --- in each queue worker process (connected by JobsConfig.ready) --------------


def worker_started(sender, proc_name=None, **kwargs) -> None:
    """django-q2's post_spawn: stamp this worker's state every few seconds, from a daemon
    thread (it runs while the worker waits for a task, and does not keep it alive)."""
    if _stamper and _stamper[0].is_alive():
        return
    thread = threading.Thread(target=_stamp_forever, name="muses-worker-stamp", daemon=True)
    _stamper[:] = [thread]
    thread.start()


def task_started(sender, **kwargs) -> None:
    _busy.set()
    _stamp()


def task_finished(sender, **kwargs) -> None:
    _finished[0] = time.time()
    _busy.clear()
    _stamp()


def _stamp_forever() -> None:
    while True:
        _stamp()
        time.sleep(STAMP_EVERY_S)


def _stamp() -> None:
    try:
        cache.set(
            _stamp_key(socket.gethostname(), os.getpid()),
            {"busy": _busy.is_set(), "finished": _finished[0], "at": time.time()},
            STAMP_TTL_S,
        )
    except Exception as exc:  # the cache is away a moment: stamp again later
        logger.warning("queue worker stamp failed: %s", exc)
