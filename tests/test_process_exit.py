"""MUSES processes end promptly on SIGINT and SIGTERM: a command that loaded TensorFlow,
and the queue worker, also when a second signal arrives while it stops. (The web server
and the demo as a whole: tests/test_demo_serve.py.)"""

import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.test_deploy import ROOT

STOP_S = 20
LOADED = "loaded"
# A command holding TensorFlow and a traced model, then waiting: as an interrupted
# extraction or training would be.
HOLD_TENSORFLOW = (
    "import numpy as np, time; from muses.vision.backbones import get_backbone; "
    "b = get_backbone(); b.extract(np.zeros((2, b.input_size, b.input_size, 3), np.uint8)); "
    f"print('{LOADED}', flush=True); time.sleep(600)"
)


def start(tmp_path, *args: str, **environ: str) -> subprocess.Popen:
    """`manage.py <args>` on a fresh migrated SQLite database, in its own process group."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "muses.settings",
        "MUSES_VAR_DIR": str(tmp_path),
        "MUSES_WEIGHTS_DIR": os.environ.get("MUSES_TEST_WEIGHTS_DIR", str(ROOT / "var/weights")),
        **environ,
    }
    for name in ("DATABASE_URL", "REDIS_URL", "MUSES_Q_SYNC", "MUSES_BACKBONE"):
        env.pop(name, None)
    migrate = [sys.executable, "manage.py", "migrate", "-v", "0"]
    subprocess.run(migrate, cwd=ROOT, env=env, check=True)
    process = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=_default_sigint,
    )
    process.env = env
    return process


def _default_sigint() -> None:
    """Ctrl-C as a terminal delivers it: a shell that starts the tests in the background
    ignores SIGINT, and its children would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_line(process: subprocess.Popen, text: str, seconds: float = 300) -> str:
    """The first line of the process's output containing `text`; fails after `seconds`
    even when the process goes silent (a plain readline would block forever)."""
    lines = _output_lines(process)
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            process.wait()
            raise AssertionError(f"ended with {process.returncode} before {text!r}")
        if text in line:
            return line
    raise AssertionError(f"no {text!r} within {seconds} s")


def _output_lines(process: subprocess.Popen) -> queue.Queue:
    """The process's output lines, read by a thread of their own (None once it ends)."""
    if not hasattr(process, "lines"):
        process.lines = queue.Queue()

        def read() -> None:
            for line in process.stdout:
                process.lines.put(line)
            process.lines.put(None)

        threading.Thread(target=read, daemon=True).start()
    return process.lines


def ends_within(process: subprocess.Popen, seconds: float) -> bool:
    try:
        process.wait(timeout=seconds)
        return True
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return False


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_command_that_loaded_tensorflow_ends_promptly_on_a_signal(tmp_path, name):
    process = start(tmp_path, "shell", "-c", HOLD_TENSORFLOW)
    wait_for_line(process, LOADED)
    process.send_signal(getattr(signal, name))
    assert ends_within(process, STOP_S)
    assert process.returncode != 0


def test_the_queue_worker_stops_on_sigint_even_when_a_second_signal_follows(tmp_path):
    process = start(tmp_path, "qcluster")
    wait_for_line(process, "running.")
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the whole group
    time.sleep(0.05)
    process.send_signal(signal.SIGTERM)  # and a supervisor's SIGTERM
    assert ends_within(process, STOP_S)


def test_the_queue_workers_end_when_their_master_and_sentinel_are_killed(tmp_path):
    import psutil

    process = start(tmp_path, "qcluster")
    wait_for_line(process, "running.")
    master = psutil.Process(process.pid)
    sentinel = master.children()[0]
    others = sentinel.children()  # workers, monitor, pusher
    assert others
    sentinel.kill()
    master.kill()
    process.wait()
    gone, alive = psutil.wait_procs(others, timeout=STOP_S)
    for orphan in alive:
        orphan.kill()
    assert alive == [], f"left running under init: {[p.pid for p in alive]}"
