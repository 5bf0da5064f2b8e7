"""Queue logging is quiet at the default level: django-q2's lines per queued task (an import
queues one per chunk, the seed's client one per image) are dropped and each MUSES job logs
one line as it ends; MUSES_LOG_LEVEL=DEBUG shows every line."""

import logging
import os
import subprocess
import sys

from muses.queue_logging import PerTaskChatter
from tests.test_deploy import ROOT

PER_TASK_LINES = [
    "Enqueued [muses] 17",
    "Process-1:1 processing features 3-3 'muses.vision.tasks.features_extract_task'",
    "Processed 'muses.vision.tasks.features_extract_task' (features 3-3)",
    "MainProcess ready for work at 9534",  # the sync mode's worker and monitor, per task
    "MainProcess stopped doing work",
    "MainProcess monitoring at 9534",
    "MainProcess stopped monitoring results",
]


def record(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("django-q", level, __file__, 1, message, None, None)


def test_the_default_level_drops_the_queues_lines_per_task():
    chatter = PerTaskChatter()
    assert [line for line in PER_TASK_LINES if chatter.filter(record(line))] == []


def test_failures_and_the_clusters_start_still_show():
    chatter = PerTaskChatter()
    assert chatter.filter(record("Q Cluster muses starting."))
    failed = "Failed 'muses.vision.tasks.features_extract_task' (x) - boom"
    assert chatter.filter(record(failed, logging.ERROR))


def test_verbose_keeps_every_line():
    chatter = PerTaskChatter(verbose=True)
    assert all(chatter.filter(record(line)) for line in PER_TASK_LINES)


def log_enqueued(level: str | None) -> str:
    """What a MUSES process with this MUSES_LOG_LEVEL prints when django-q2 queues a task."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "muses.settings"}
    env.pop("MUSES_LOG_LEVEL", None)
    if level:
        env["MUSES_LOG_LEVEL"] = level
    code = (
        "import django; django.setup(); import logging\n"
        "logging.getLogger('django-q').info('Enqueued [muses] 17')\n"
        "logging.getLogger('django-q').info('Q Cluster muses starting.')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_a_muses_process_is_quiet_by_default_and_verbose_with_debug():
    quiet = log_enqueued(None)
    assert "Enqueued" not in quiet and "Q Cluster muses starting." in quiet
    assert "Enqueued [muses] 17" in log_enqueued("DEBUG")


def test_a_job_logs_one_line_when_it_ends(caplog, db):
    from muses.jobs.services import job_run, job_succeed
    from muses.vision.models import VisionJob

    job = VisionJob.objects.create()
    with caplog.at_level(logging.INFO, logger="muses.jobs.services"):
        job_run(model=VisionJob, pk=job.pk, work=lambda j: job_succeed(model=VisionJob, pk=j.pk))
    lines = [r.getMessage() for r in caplog.records if r.name == "muses.jobs.services"]
    assert lines == [f"{job.kind} job {job.task_id} success"]
