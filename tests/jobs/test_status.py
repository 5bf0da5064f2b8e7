"""GET /status/<task_id>"""

import threading
import time
from datetime import timedelta
from types import SimpleNamespace
from unittest import mock

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from custom_tagging import tasks
from custom_tagging.models import CustomTag, TrainingJob
from muses.jobs.services import job_heartbeat


def test_a_finished_training_shows_state_progress_timestamps_and_metrics(api, labelled_tag):
    labelled_tag("red")
    task_id = api.get("/custom/train/red").json()["task_id"]
    response = api.get(f"/status/{task_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["task_id"] == task_id and body["kind"] == "training" and body["tag"] == "red"
    assert body["state"] == "success" and body["progress"] == 1.0 and body["error"] == ""
    assert body["created"] <= body["started"] <= body["finished"]
    assert body["version"] == 1
    assert set(body["metrics"]) >= {"precision", "recall", "f1", "average_precision"}


def test_an_unknown_task_id_is_404(api):
    response = api.get("/status/0123456789abcdef")
    assert response.status_code == 404
    assert response.json()["detail"] == "No task with task_id '0123456789abcdef'."


def test_a_job_running_past_the_queue_timeout_is_reported_as_an_error(api, settings):
    tag = CustomTag.objects.create(name="red")
    long_ago = timezone.now() - timedelta(seconds=settings.Q_CLUSTER["timeout"] + 600)
    job = TrainingJob.objects.create(tag=tag, tag_name="red", state="running", started=long_ago)
    body = api.get(f"/status/{job.task_id}").json()
    assert body["state"] == "error"
    assert "killed or timed out" in body["error"]


def test_a_task_that_django_q_reports_failed_marks_the_job_failed(db):
    tag = CustomTag.objects.create(name="red")
    job = TrainingJob.objects.create(tag=tag, tag_name="red", state="running")
    failed = SimpleNamespace(success=False, args=(job.pk,), result="Task exceeded maximum timeout")
    tasks.tag_train_hook(failed)
    job.refresh_from_db()
    assert job.state == "error" and job.error == "Task exceeded maximum timeout"


def test_the_hook_leaves_a_successful_job_alone(api, labelled_tag):
    labelled_tag("red")
    task_id = api.get("/custom/train/red").json()["task_id"]
    job = TrainingJob.objects.get(task_id=task_id)
    tasks.tag_train_hook(SimpleNamespace(success=False, args=(job.pk,), result="late"))
    job.refresh_from_db()
    assert job.state == "success"


def test_a_job_cancelled_while_queued_never_runs(api, labelled_tag):
    labelled_tag("red")
    with mock.patch("muses.jobs.services.async_task"):
        task_id = api.get("/custom/train/red").json()["task_id"]
    assert api.post(f"/api/jobs/{task_id}/cancel").status_code == 200
    job = TrainingJob.objects.get(task_id=task_id)
    assert tasks.tag_train_task(job.pk) == "cancelled"
    assert api.get(f"/status/{task_id}").json()["state"] == "cancelled"
    assert not job.tag.versions.exists()


def test_status_needs_a_token(anonymous):
    assert anonymous.get("/status/abc").status_code == 401


def test_a_task_for_a_job_that_never_appears_gives_up_quietly(db, settings, monkeypatch):
    from muses.jobs import services as jobs

    monkeypatch.setattr(jobs, "JOB_ROW_WAIT_S", 0.3)
    assert tasks.tag_train_task(987654) == "missing"


def test_a_running_job_whose_worker_heartbeat_stopped_is_reported_as_an_error(api, labelled_tag):
    """The worker was SIGKILLed: django-q2 records nothing and its timeout is an hour away,
    but the heartbeat stopped."""
    labelled_tag("red")
    tag = CustomTag.objects.get(name="red")
    now = timezone.now()
    alive = TrainingJob.objects.create(
        tag=tag,
        tag_name="red",
        state="running",
        started=now - timedelta(minutes=5),
        heartbeat=now - timedelta(seconds=2),
    )
    dead = TrainingJob.objects.create(
        tag=tag,
        tag_name="red",
        state="running",
        started=now - timedelta(minutes=5),
        heartbeat=now - timedelta(seconds=django_settings.MUSES_JOB_HEARTBEAT_STALE_S + 1),
    )
    assert api.get(f"/status/{alive.task_id}").json()["state"] == "running"
    body = api.get(f"/status/{dead.task_id}").json()
    assert body["state"] == "error" and "killed" in body["error"]
    assert api.get("/custom/train/red").status_code == 409  # the live one still blocks


@pytest.mark.django_db(transaction=True)
def test_a_queue_worker_stamps_the_heartbeat_until_the_job_ends(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    settings.MUSES_JOB_HEARTBEAT_S = 0.05
    tag = CustomTag.objects.create(name="red")
    job = TrainingJob.objects.create(tag=tag, tag_name="red", state="running")
    with job_heartbeat(model=TrainingJob, pk=job.pk):
        deadline = time.monotonic() + 5
        while TrainingJob.objects.get(pk=job.pk).heartbeat is None:
            assert time.monotonic() < deadline, "no heartbeat"
            time.sleep(0.02)
        first = TrainingJob.objects.get(pk=job.pk).heartbeat
        time.sleep(0.2)
        assert TrainingJob.objects.get(pk=job.pk).heartbeat > first
    assert not [t for t in threading.enumerate() if t.name.startswith("job-heartbeat-")]
    stamped = TrainingJob.objects.get(pk=job.pk).heartbeat
    time.sleep(0.2)
    assert TrainingJob.objects.get(pk=job.pk).heartbeat == stamped


def test_sync_mode_stamps_no_heartbeat(api, labelled_tag):
    labelled_tag("red")
    task_id = api.get("/custom/train/red").json()["task_id"]
    assert TrainingJob.objects.get(task_id=task_id).heartbeat is None


def test_status_of_a_training_whose_tag_was_deleted_says_so(api, labelled_tag):
    labelled_tag("red")
    task_id = api.get("/custom/train/red").json()["task_id"]
    api.get("/custom/delete/red")
    body = api.get(f"/status/{task_id}").json()
    assert body["state"] == "success" and body["version"] is None
    assert body["tag_deleted"] is True
    assert "'red' was deleted" in body["warning"]
