"""`make demo` announces its URL only when "/" answers (bin/demo-serve, bin/wait-ready)."""

import http.server
import os
import signal
import subprocess
import sys
import threading

import pytest
import requests
from django.conf import settings

from tests.test_demo_serve import free_port, wait_group_gone
from tests.test_deploy import ROOT

ANNOUNCEMENT = "MUSES on http://"


def wait_ready(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "bin/wait-ready", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def server_answering():
    """A local server whose "/" answers 503 to its first `failures` requests, then 200."""
    state = {"failures": 0, "asked": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            state["asked"] += 1
            self.send_response(503 if state["asked"] <= state["failures"] else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def start(failures: int) -> str:
        state["failures"] = failures
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start, state
    server.shutdown()


def test_wait_ready_returns_once_the_page_answers_200_after_failures(server_answering):
    start, state = server_answering
    result = wait_ready(start(failures=3), "--pid", str(os.getpid()), "--timeout", "50")
    assert result.returncode == 0, result.stderr
    assert state["asked"] == 4


def test_wait_ready_gives_up_when_a_watched_process_has_ended(server_answering):
    start, _ = server_answering
    gone = subprocess.Popen(["true"])
    gone.wait()
    result = wait_ready(start(failures=10**6), "--pid", str(gone.pid), "--timeout", "50")
    assert result.returncode == 1
    assert f"process {gone.pid} ended" in result.stderr


def test_wait_ready_gives_up_at_its_timeout_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
    result = wait_ready(url, "--timeout", "1")
    assert result.returncode == 1
    assert f"{url} did not answer 200 within 1 s" in result.stderr


def test_the_demos_first_page_answers_200_as_soon_as_its_url_is_announced(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "muses.settings",
        "MUSES_VAR_DIR": str(tmp_path),
        "MUSES_WEIGHTS_DIR": str(settings.MUSES_WEIGHTS_DIR),
        "MUSES_PORT": str(port),
        "MUSES_READY_TIMEOUT": "300",  # a stalled start fails the test instead of hanging it
        "MUSES_BATCH_MAX": "2",  # two batch shapes to trace: a quicker start
    }
    for name in ("DATABASE_URL", "REDIS_URL", "MUSES_Q_SYNC", "MUSES_BACKBONE"):
        env.pop(name, None)
    manage = [sys.executable, "manage.py", "migrate", "-v", "0"]
    subprocess.run(manage, cwd=ROOT, env=env, check=True)
    demo = subprocess.Popen(
        ["bash", "bin/demo-serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        announced = next((line for line in demo.stdout if ANNOUNCEMENT in line), None)
        assert announced, "bin/demo-serve ended without announcing its URL"
        # One request, no retry: a server still starting refuses it or answers late.
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=30).status_code == 200
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        assert wait_group_gone(demo, 30)
