"""A queue worker killed while idle (kill -9 after "ready for work"): django-q2 starts
another, but the dead one can leave the cluster's in-process queue locked, so no task is
taken again. A training queued then is reported failed within MUSES_JOB_QUEUE_STALE_S, and
a new training of the tag is accepted (real processes: qcluster and manage.py shell)."""

import os
import re
import signal
import subprocess
import sys
import time

from tests.test_deploy import ROOT
from tests.test_process_exit import ends_within, start, wait_for_line

STALE_S = 8
ENQUEUE = """
import io
from PIL import Image as P
from muses.collection.services import image_store
from muses.jobs.services import job_get
from custom_tagging.services.tags import assignment_set, tag_get_or_create
from custom_tagging.selectors import tag_get
from custom_tagging.jobs import tag_train_enqueue
def jpeg(c):
    b = io.BytesIO(); P.new("RGB", (8, 8), c).save(b, "JPEG"); return b.getvalue()
tag = tag_get_or_create(name="red")
for i, label in enumerate(["positive", "negative"]):
    image = image_store(data=jpeg((i * 100, 0, 0)), name="x.jpg", image_id=f"k{i}")
    assignment_set(image=image, tag_name="red", label=label)
print("task", tag_train_enqueue(tag=tag).task_id)
"""
STATUS = """
from muses.jobs.services import job_get
from custom_tagging.services.tags import assignment_set, tag_get_or_create
from custom_tagging.selectors import tag_get
from custom_tagging.jobs import tag_train_enqueue
job = job_get(task_id="{task_id}")
print("state", job.state, job.error)
print("again", tag_train_enqueue(tag=tag_get(name="red")).state)
"""


def shell(env: dict, code: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_training_queued_after_an_idle_worker_was_killed_is_reported_failed(tmp_path):
    cluster = start(
        tmp_path,
        "qcluster",
        MUSES_Q_WORKERS="1",
        MUSES_JOB_QUEUE_STALE_S=str(STALE_S),
        MUSES_LOG_LEVEL="DEBUG",  # "ready for work" is per-worker chatter, quiet by default
    )
    try:
        worker = int(
            re.search(r"ready for work at (\d+)", wait_for_line(cluster, "ready for work")).group(1)
        )
        wait_for_line(cluster, "running.")
        os.kill(worker, signal.SIGKILL)
        wait_for_line(cluster, "reincarnated worker")
        try:
            wait_for_line(cluster, "ready for work", seconds=60)
        except AssertionError:
            # django-q2's replacement worker can hang before its first log line (seen now
            # and then); the cluster still lists it as alive, which is the case under test.
            assert cluster.poll() is None, "the cluster ended after the worker was killed"
        env = {**cluster.env, "MUSES_JOB_QUEUE_STALE_S": str(STALE_S)}
        task_id = shell(env, ENQUEUE).split("task ")[1].strip()
        time.sleep(STALE_S + 2)
        out = shell(env, STATUS.format(task_id=task_id))
    finally:
        cluster.send_signal(signal.SIGTERM)
        ends_within(cluster, 30)
    assert "state error No queue worker took the job within 8 s" in out
    assert "restart `manage.py qcluster`" in out
    assert "again queued" in out  # not 409 "already queued"
