"""Jobs that wait for a queue worker: what /status, /custom/train, the admin and
`manage.py check` say, from django-q2's cluster stats and the workers' busy stamps."""

import io
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.signing import SignedPackage
from django_q.status import Stat, Status

from custom_tagging.models import CustomTag, TrainingJob
from muses.jobs.workers import _stamp_key

START_QCLUSTER = "no worker is running: start `manage.py qcluster`"


@pytest.fixture
def queue(settings):
    """Jobs go to the ORM broker, as in production, instead of running in the request."""
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}


def waiting_job(tag_name: str = "red", seconds: float = 10) -> TrainingJob:
    tag, _ = CustomTag.objects.get_or_create(name=tag_name)
    job = TrainingJob.objects.create(tag=tag, tag_name=tag.name)
    TrainingJob.objects.filter(pk=job.pk).update(
        created=timezone.now() - timedelta(seconds=seconds)
    )
    return job


def live_worker(*, busy: bool, pid: int = 4242, finished_ago: float = 3600) -> None:
    """A cluster's stats as a running qcluster saves them, and its worker's stamp."""
    stat = Status(pid=pid - 1, cluster_id="test-cluster")
    stat.status, stat.workers, stat.host = Conf.IDLE, [pid], "worker-host"
    get_broker().set_stat(Stat.get_key("test-cluster"), SignedPackage.dumps(stat, True), 60)
    stamp = {"busy": busy, "finished": time.time() - finished_ago}
    cache.set(_stamp_key("worker-host", pid), stamp, 60)


def test_status_of_a_job_waiting_with_no_worker_says_to_start_qcluster(api, queue):
    job = waiting_job(seconds=10)
    body = api.get(f"/status/{job.task_id}").json()
    assert body["state"] == "queued"
    assert START_QCLUSTER in body["warning"]


def test_a_job_no_worker_took_within_a_minute_is_reported_failed(api, queue):
    job = waiting_job(seconds=61)
    body = api.get(f"/status/{job.task_id}").json()
    assert body["state"] == "error"
    assert "No queue worker took the job within 60 s" in body["error"]
    assert START_QCLUSTER in body["error"]


def test_a_job_waiting_behind_a_busy_worker_stays_queued_without_a_warning(api, queue):
    live_worker(busy=True)
    job = waiting_job(seconds=600)
    body = api.get(f"/status/{job.task_id}").json()
    assert body["state"] == "queued"
    assert "warning" not in body


def test_idle_workers_that_do_not_take_a_job_get_it_reported_failed(api, queue):
    live_worker(busy=False)  # e.g. its worker was killed while waiting and the queue locked
    job = waiting_job(seconds=61)
    body = api.get(f"/status/{job.task_id}").json()
    assert body["state"] == "error"
    assert "restart `manage.py qcluster`" in body["error"]


def test_a_worker_between_two_tasks_counts_as_busy(api, queue):
    live_worker(busy=False, finished_ago=1)  # it finished one a moment ago
    job = waiting_job(seconds=120)
    assert api.get(f"/status/{job.task_id}").json()["state"] == "queued"


def test_a_new_training_is_not_blocked_by_a_job_no_worker_took(api, queue, labelled_tag):
    labelled_tag("red")
    dead = waiting_job("red", seconds=61)
    response = api.get("/custom/train/red")
    assert response.status_code == 202, response.content
    dead.refresh_from_db()
    assert dead.state == "error"


def test_a_training_queued_moments_ago_still_blocks_a_second_one(api, queue, labelled_tag):
    labelled_tag("red")
    waiting_job("red", seconds=1)
    assert api.get("/custom/train/red").status_code == 409


def test_manage_py_check_warns_when_jobs_wait_and_no_worker_runs(queue, db):
    waiting_job(seconds=10)
    errors = io.StringIO()
    call_command("check", stdout=io.StringIO(), stderr=errors)
    assert START_QCLUSTER in errors.getvalue()


def test_manage_py_check_is_quiet_when_a_worker_runs(queue, db):
    live_worker(busy=True)
    waiting_job(seconds=10)
    errors = io.StringIO()
    call_command("check", stdout=io.StringIO(), stderr=errors)
    assert "qcluster" not in errors.getvalue()


def test_the_admins_job_list_warns_when_jobs_wait_and_no_worker_runs(admin_client, queue):
    waiting_job(seconds=10)
    page = admin_client.get("/admin/custom_tagging/trainingjob/", follow=True)
    assert START_QCLUSTER in page.content.decode()
