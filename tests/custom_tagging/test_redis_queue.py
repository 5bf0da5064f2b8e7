"""Training through Redis and a real `manage.py qcluster`, not django-q2's sync mode.

Runs when REDIS_URL is set (CI's PostgreSQL + Redis pass sets it), skipped otherwise. The
worker is a separate process on the test run's database (tests/qcluster_settings.py); the
API is called in this process with sync mode off, so a train request only queues the task
in Redis. Every wait is bounded.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from custom_tagging.models import TagVersion, TrainingJob
from muses.collection.services import image_store
from tests.conftest import encode_image
from tests.custom_tagging.conftest import BLUE, RED

REDIS_URL = os.environ.get("REDIS_URL", "")
ROOT = Path(__file__).resolve().parents[2]
# A worker's start (Django, TensorFlow's import) takes 5-30 s on a busy 2-core machine.
START_LIMIT_S = 120
JOB_LIMIT_S = 60
STOP_LIMIT_S = 5
HEARTBEAT_STALE_S = 3.0

pytestmark = [
    pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL is not set: no Redis to queue through"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="module")
def worker_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("qcluster")


@pytest.fixture
def isolated_media(settings, worker_dir):
    """The worker reads the images this process stores: one MEDIA_ROOT for both."""
    settings.MEDIA_ROOT = worker_dir / "media"
    return settings.MEDIA_ROOT


class Worker:
    """A `manage.py qcluster` process and the files its holdable backbone uses."""

    def __init__(self, process: subprocess.Popen, directory: Path, log: Path):
        self.process, self.log = process, log
        self.hold_file, self.pid_file = directory / "hold", directory / "worker.pid"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def qcluster(django_db_setup, django_db_blocker, worker_dir):
    import redis
    from django.conf import settings

    with django_db_blocker.unblock():
        database_name = connection.settings_dict["NAME"]
    cluster = f"muses-test-{uuid.uuid4().hex[:8]}"
    log = worker_dir / "qcluster.log"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.qcluster_settings",
        "MUSES_TEST_DATABASE_NAME": str(database_name),
        # Tasks are signed with it: the worker must share this process's key.
        "SECRET_KEY": settings.SECRET_KEY,
        "MUSES_TEST_Q_CLUSTER": cluster,
        "MUSES_TEST_HOLD_FILE": str(worker_dir / "hold"),
        "MUSES_TEST_PID_FILE": str(worker_dir / "worker.pid"),
        "MUSES_VAR_DIR": str(worker_dir / "var"),
        "MEDIA_ROOT": str(worker_dir / "media"),
    }
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=environment,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = Worker(process, worker_dir, log)
    try:
        _wait_until_started(worker)
        yield cluster, worker
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            # A cluster whose worker was respawned can take 30 s to stop: not worth waiting.
            process.wait(timeout=STOP_LIMIT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        redis.Redis.from_url(REDIS_URL).delete(f"django_q:{cluster}:q")


def _wait_until_started(worker: Worker) -> None:
    deadline = time.monotonic() + START_LIMIT_S
    while "running." not in worker.output() and "is running" not in worker.output():
        if worker.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"qcluster did not start:\n{worker.output()}")
        time.sleep(0.25)


@pytest.fixture
def queue(qcluster, settings, monkeypatch):
    """This process queues through the worker's Redis list instead of running the task."""
    from django_q.conf import Conf

    cluster, worker = qcluster
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "CLUSTER_NAME", cluster)
    settings.MUSES_JOB_HEARTBEAT_STALE_S = HEARTBEAT_STALE_S
    worker.hold_file.unlink(missing_ok=True)
    worker.pid_file.unlink(missing_ok=True)
    yield worker
    worker.hold_file.unlink(missing_ok=True)


def wait_for(api, task_id: str, states: set[str], worker: Worker) -> dict:
    deadline = time.monotonic() + JOB_LIMIT_S
    while True:
        status = api.get(f"/status/{task_id}").json()
        if status["state"] in states:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"job still {status} after {JOB_LIMIT_S} s:\n{worker.output()}")
        time.sleep(0.2)


def train(api, tag: str) -> str:
    response = api.get(f"/custom/train/{quote(tag)}")
    assert response.status_code == 202, response.content
    return response.json()["task_id"]


def test_a_training_queued_through_redis_is_run_by_the_qcluster_worker(api, labelled_tag, queue):
    labelled_tag("red")
    task_id = train(api, "red")
    assert api.get(f"/status/{task_id}").json()["state"] in {"queued", "running", "success"}
    status = wait_for(api, task_id, {"success", "error"}, queue)
    assert status["state"] == "success", status
    job = TrainingJob.objects.get(task_id=task_id)
    # Only a queue worker stamps the heartbeat (sync mode runs the job inside the request).
    assert job.heartbeat is not None and job.started <= job.heartbeat <= job.finished
    assert api.get("/custom/predict/red/red-pos-0").json()["prediction"] is True


def test_a_killed_worker_is_reported_by_the_heartbeat_and_the_next_training_succeeds(
    api, labelled_tag, queue
):
    labelled_tag("red")
    assert wait_for(api, train(api, "red"), {"success", "error"}, queue)["state"] == "success"
    # Two imported images without features: the next training computes them in the worker,
    # where the backbone holds until the hold file goes.
    for name, colour, label in (("late-red", RED, "positive"), ("late-blue", BLUE, "negative")):
        image_store(data=encode_image(color=colour), name=f"{name}.jpg", image_id=name)
        assert api.get(f"/custom/assign/{name}/{label}/red").status_code == 200
    queue.hold_file.touch()
    task_id = train(api, "red")
    worker_pid = _wait_for_pid(queue)
    running = wait_for(api, task_id, {"running"}, queue)
    first_beat = _heartbeat(task_id)
    time.sleep(1.5)
    assert _heartbeat(task_id) > first_beat, "the heartbeat did not advance while running"

    os.kill(worker_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    failed = wait_for(api, task_id, {"error", "success", "cancelled"}, queue)
    assert failed["state"] == "error", failed
    assert "worker stopped without reporting" in failed["error"]
    assert time.monotonic() - killed_at < HEARTBEAT_STALE_S + 10
    assert running["state"] == "running"
    assert list(TagVersion.objects.filter(tag__name="red").values_list("number", "is_active")) == [
        (1, True)
    ]

    queue.hold_file.unlink()
    retried = train(api, "red")
    status = wait_for(api, retried, {"success", "error"}, queue)
    assert status["state"] == "success", status
    assert int(queue.pid_file.read_text()) != worker_pid  # a respawned worker ran it
    active = TagVersion.objects.get(tag__name="red", is_active=True)
    assert active.number == 2 and active.positives == 7 and active.negatives == 7
    assert api.get("/custom/predict/red/late-red").json()["prediction"] is True


def _wait_for_pid(worker: Worker) -> int:
    deadline = time.monotonic() + JOB_LIMIT_S
    while not worker.pid_file.exists() or not worker.pid_file.read_text().strip():
        if time.monotonic() > deadline:
            raise AssertionError(f"the worker never computed features:\n{worker.output()}")
        time.sleep(0.1)
    return int(worker.pid_file.read_text())


def _heartbeat(task_id: str):
    return TrainingJob.objects.values_list("heartbeat", flat=True).get(task_id=task_id)
