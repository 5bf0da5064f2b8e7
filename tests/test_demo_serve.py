"""`make demo`'s server (bin/demo-serve) as real processes on the embedded defaults
(SQLite, django-q2's ORM broker): the seed's Pool(50) client, and Ctrl-C / SIGTERM."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
import requests
from django.conf import settings

from tests.custom_tagging.test_seed_snippets import POOL, SEED_HOST, _line_starting
from tests.test_deploy import ROOT

SAMPLE_IMAGES = sorted((ROOT / "sample" / "egyptian-cc0" / "images").glob("*.jpg"))
START_S = 400  # loading TensorFlow and tracing the batch shapes, on a busy 2-core machine
STOP_S = 20

# Run before the seed's snippet in the client process: every add must answer 201 (a
# refused connection or a 5xx raises inside the pool and fails the script).
EXPECT_201 = """
import requests
_post = requests.post
def _post_expecting_201(*args, **kwargs):
    response = _post(*args, **kwargs)
    if response.status_code != 201:
        raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
    return response
requests.post = _post_expecting_201
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_group_gone(process: subprocess.Popen, seconds: float) -> bool:
    """Whether every process of the group led by `process` ended within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        process.poll()  # reap the leader: a zombie still counts as a member of its group
        if not group_alive(process.pid):
            return True
        time.sleep(0.2)
    process.poll()
    return not group_alive(process.pid)


class Demo:
    def __init__(self, var_dir, **environ: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = var_dir / "muses.sqlite3"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "muses.settings",
            "MUSES_VAR_DIR": str(var_dir),
            "MUSES_WEIGHTS_DIR": str(settings.MUSES_WEIGHTS_DIR),
            "MUSES_PORT": str(self.port),
            "MUSES_API_OPEN": "1",
            **environ,
        }
        for name in ("DATABASE_URL", "REDIS_URL", "MUSES_Q_SYNC", "MUSES_BACKBONE"):
            self.env.pop(name, None)  # the embedded defaults
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=self.env, check=True
        )
        self.process = subprocess.Popen(
            ["bash", "bin/demo-serve"],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,  # its own process group, as a terminal gives it
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"bin/demo-serve ended with {self.process.returncode}")
            try:
                if requests.get(f"{self.url}/api/schema/", timeout=30).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise AssertionError("bin/demo-serve did not answer in time")

    def count(self, table: str) -> int:
        with sqlite3.connect(self.database, timeout=30) as db:
            return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def kill(self) -> None:
        self.process.poll()
        if group_alive(self.process.pid):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.fixture
def demo(tmp_path):
    started = []

    def start(**environ):
        started.append(Demo(tmp_path / "var", **environ))
        return started[-1]

    yield start
    for one in started:
        one.kill()


def pool_script(url: str, images: list[dict]) -> str:
    seed = POOL.replace(_line_starting("images = ", POOL), "images = seed_images")
    return "\n".join(
        [
            EXPECT_201,
            f"seed_images = {json.dumps(images)}",
            seed.replace(SEED_HOST, url),
            "import json; print(json.dumps(results))",
        ]
    )


def test_the_seeds_pool_of_50_adds_200_images_all_answered_201_and_stored(demo, tmp_path):
    server = demo()
    images = [{"image_id": f"p{i}", "path": str(p)} for i, p in enumerate(SAMPLE_IMAGES[:200])]
    script = tmp_path / "add_samples.py"
    script.write_text(pool_script(server.url, images))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    assert [r["image_id"] for r in results] == [i["image_id"] for i in images]
    assert server.count("collection_image") == 200
    assert server.count("vision_imagefeature") == 200


def predict_once(server: Demo) -> None:
    with open(SAMPLE_IMAGES[0], "rb") as image:
        reply = requests.post(f"{server.url}/predict", files={"data": image}, timeout=120)
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_to_the_demos_process_group_stops_every_process_promptly(demo, name):
    server = demo(MUSES_BATCH_MAX="2")  # two batch shapes to trace: a quicker start
    predict_once(server)
    os.killpg(server.process.pid, getattr(signal, name))
    assert wait_group_gone(server.process, STOP_S), f"still running {STOP_S} s after {name}"


def test_sigterm_to_the_demo_script_alone_stops_the_server_and_the_worker(demo):
    server = demo(MUSES_BATCH_MAX="2")
    predict_once(server)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=STOP_S) == 0
    assert wait_group_gone(server.process, STOP_S)
