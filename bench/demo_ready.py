"""Is the demo ready when it says so? Starts bin/demo-serve on a fresh SQLite database (the
sample imported, features off), waits for its "MUSES on http://..." line, then times GET /
at once (again after a refused connection, until 200). Runs this checkout and, for
comparison, the files of an older commit (before the server waited for "/"), alternately.

.venv/bin/python bench/demo_ready.py [--before REF] [--runs N]
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import ROOT, SAMPLE_CSV, checkout_at, free_port

BEFORE_REF = "cb2b508"
ANNOUNCEMENT = "MUSES on http://"


def prepared_env() -> dict:
    env = {
        **os.environ,
        "MUSES_VAR_DIR": tempfile.mkdtemp(prefix="muses-bench-ready-"),
        "MUSES_WEIGHTS_DIR": str(ROOT / "var" / "weights"),
        "MUSES_API_OPEN": "1",
    }
    for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "MUSES_Q_SYNC"):
        env.pop(name, None)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [*manage, "muses_import", str(SAMPLE_CSV), "--no-features", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return env


def first_200(url: str) -> tuple[float, int]:
    """Seconds until GET url answered 200 (asking again after a refused connection or another
    status), and how many requests that took."""
    start, requests = time.perf_counter(), 0
    while True:
        requests += 1
        try:
            with urllib.request.urlopen(url, timeout=300) as response:
                if response.status == 200:
                    return time.perf_counter() - start, requests
        except OSError:
            pass
        time.sleep(0.1)


def first_page_after_announcement(folder: Path, env: dict) -> tuple[float, float, int]:
    """(seconds to the announcement, seconds until GET / then answered 200, requests)."""
    env = {**env, "MUSES_PORT": str(free_port())}
    start = time.perf_counter()
    demo = subprocess.Popen(
        ["bash", "bin/demo-serve"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        for line in demo.stdout:
            if ANNOUNCEMENT in line:
                break
        else:
            raise SystemExit(f"{folder}: bin/demo-serve ended without announcing")
        announced = time.perf_counter() - start
        return announced, *first_200(f"http://127.0.0.1:{env['MUSES_PORT']}/")
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=BEFORE_REF, help="the git ref measured as before")
    parser.add_argument("--runs", type=int, default=2, help="starts of each side")
    args = parser.parse_args()
    env = prepared_env()
    sides = {"before": checkout_at(args.before), "after": ROOT}
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average), {os.cpu_count()} CPUs")
    for run in range(args.runs):
        for side, folder in sides.items():
            announced, first, requests = first_page_after_announcement(folder, env)
            print(
                f"run {run + 1} {side:6}: announced after {announced:5.1f} s, then GET / "
                f"answered 200 after {first:5.2f} s ({requests} request(s))"
            )
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average)")


if __name__ == "__main__":
    main()
