"""Fault check: SIGKILL the django-q2 worker in the middle of a custom-tag training.

Real processes: `manage.py runserver` serving the API, one `manage.py qcluster` (1 worker)
over Redis, PostgreSQL. Version 1 of the tag "sculpture" is trained on the 320 sample
images (features stored). Then 800 more images of ../shared/data/egyptian-cc0 (imported
without features, as a curator would) are labelled and the tag trained again: that job
first computes the missing features, then fits. The worker process
running it is SIGKILLed twice: once while it computes features, once while it fits
(progress between 0.05 and 1). After each kill the job must end (not stay "running"),
version 1 must stay the only and active version and predict exactly as before, and no
temporary file may be left. Finally a third training, on the worker django-q2 respawned,
must succeed as version 2. Prints PASS or FAIL (exit status 1).

    .venv/bin/python bench/fault_kill_training.py [--images 800] [--kill-at-features 200]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres) and Redis on 127.0.0.1:6379; creates
and drops the database muses_bench_fault_train and flushes Redis database 14.
"""

import argparse
import csv
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import descendants, manage, postgres_database_fresh, process_cpu_seconds, psql  # noqa: E402

SAMPLE_CSV = ROOT / "sample" / "egyptian-cc0" / "collection.csv"
FULL_CSV = ROOT.parent / "shared" / "data" / "egyptian-cc0" / "collection.csv"
DB_NAME = "muses_bench_fault_train"
DB_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
REDIS_DB = "14"
TAG = "sculpture"
# Seconds a killed job may show "running" before the check fails (the heartbeat's
# staleness is 30 s; the queue's timeout, 3600 s, is not waited for).
DETECT_LIMIT_S = 90

LABEL = """
from custom_tagging.services.tags import assignments_set_many, tag_get_or_create
from muses.collection.models import Image
tag = tag_get_or_create(name={tag!r})
images = Image.objects.all() if {everything} else Image.objects.filter(features__isnull=False)
positive = images.filter(item__object_type__iexact="Sculpture").distinct()
negative = images.exclude(pk__in=positive).distinct()
print(assignments_set_many(tag=tag, images=positive, label="positive"),
      assignments_set_many(tag=tag, images=negative, label="negative"))
"""
TABLES = """
from custom_tagging.models import TrainingJob
from muses.collection.models import Image
from muses.vision.models import ImageFeature
print(TrainingJob._meta.db_table, ImageFeature._meta.db_table, Image._meta.db_table)
"""


T0 = time.time()


def say(text: str) -> None:
    print(f"[{time.time() - T0:5.0f} s] {text}", flush=True)


def more_rows(csv_path: Path, n: int, target: Path) -> Path:
    """The first n records of csv_path that are not in the sample, as a CSV file."""
    with open(SAMPLE_CSV, newline="", encoding="utf-8") as handle:
        known = {row["object_number"] for row in csv.DictReader(handle)}
    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [row for row in reader if row["object_number"] not in known][:n]
    with open(target, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=reader.fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    return target


def busiest(pid: int, window: float = 0.5) -> int:
    """The cluster's process doing the work: the one burning CPU (the job's worker)."""
    before = {p: process_cpu_seconds(p) for p in descendants(pid)}
    time.sleep(window)
    return max(before, key=lambda p: process_cpu_seconds(p) - before[p])


def temp_files(roots: list[Path], since: float) -> list[str]:
    """Files written during the run that look temporary (dot-, tmp- or .part-named)."""
    found = []
    for root in roots:
        for path in root.rglob("*"):
            try:
                if not path.is_file() or path.stat().st_mtime < since:
                    continue
            except OSError:
                continue
            name = path.name
            if name.startswith(".") or "tmp" in name.lower() or name.endswith(".part"):
                found.append(str(path))
    return found


class Api:
    def __init__(self, base: str):
        self.base = base
        self.session = requests.Session()

    def get(self, path: str, **kwargs):
        response = self.session.get(self.base + path, timeout=60, **kwargs)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, **kwargs):
        response = self.session.post(self.base + path, timeout=60, **kwargs)
        response.raise_for_status()
        return response.json()

    def versions(self) -> list[tuple[int, bool]]:
        rows = self.get(f"/api/tags/{TAG}/versions")["results"]
        return sorted((v["number"], v["is_active"]) for v in rows)

    def predictions(self, image_ids: list[str]) -> dict:
        return self.post("/custom/predict_batch", json={"image_id": image_ids, "tags": [TAG]})[
            "predictions"
        ]


def wait_running(api: Api, task_id: str, limit: float = 120) -> dict:
    deadline = time.time() + limit
    while time.time() < deadline:
        status = api.get(f"/status/{task_id}")
        if status["state"] != "queued":
            return status
        time.sleep(0.1)
    raise SystemExit(f"the training {task_id} never started")


def wait_finished(api: Api, task_id: str, limit: float) -> dict:
    deadline = time.time() + limit
    status = api.get(f"/status/{task_id}")
    while status["state"] in ("queued", "running") and time.time() < deadline:
        time.sleep(0.5)
        status = api.get(f"/status/{task_id}")
    return status


def start(env: dict, port: int) -> tuple[subprocess.Popen, subprocess.Popen]:
    log = open(Path(env["MUSES_VAR_DIR"]) / "processes.log", "w")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=log,
        stderr=log,
    )
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=log,
        stderr=log,
    )
    for _ in range(480):
        try:
            requests.get(f"http://127.0.0.1:{port}/api/tags", timeout=30)
            return server, cluster
        except requests.RequestException:
            time.sleep(0.5)
    raise SystemExit("the web server did not start")


def kill_mid_training(api, db, tables, cluster, *, at_features: int | None) -> dict:
    """Queue a training, SIGKILL the worker running it (while it computes features, or
    while it fits), and follow the job until it ends."""
    jobs_table, features_table, _ = tables
    features_before = db.execute(f"SELECT count(*) FROM {features_table}").fetchone()[0]
    task_id = api.get(f"/custom/train/{TAG}")["task_id"]
    wait_running(api, task_id)
    running_since = time.time()
    worker = None
    progress = 0.0
    while True:  # watch the job's row directly: fast enough to land inside the fit
        state, progress = db.execute(
            f"SELECT state, progress FROM {jobs_table} WHERE task_id = %s", (task_id,)
        ).fetchone()
        features = db.execute(f"SELECT count(*) FROM {features_table}").fetchone()[0]
        if state != "running":
            return {"task_id": task_id, "missed": f"the job ended {state} before the kill"}
        if worker is None and features > features_before:
            worker = busiest(cluster.pid)  # the worker is extracting: it burns the CPU
        if worker is not None:
            if at_features is not None and features - features_before >= at_features:
                break
            if at_features is None and 0.05 <= progress < 1.0:
                break
        time.sleep(0.01)
    processes = len(descendants(cluster.pid))
    os.kill(worker, signal.SIGKILL)
    killed_at = time.time()
    phase = (
        f"computing features ({features - features_before} of the job's stored so far)"
        if at_features is not None
        else f"fitting (progress {progress:.2f})"
    )
    status = wait_finished(api, task_id, DETECT_LIMIT_S)
    return {
        "task_id": task_id,
        "worker": worker,
        "phase": phase,
        "status": status,
        "running_s": killed_at - running_since,
        "detect_s": time.time() - killed_at,
        "respawned": worker not in descendants(cluster.pid)
        and len(descendants(cluster.pid)) == processes,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv", default=str(FULL_CSV))
    parser.add_argument(
        "--images",
        type=int,
        default=800,
        help="images of --csv (beyond the sample) labelled for the killed trainings",
    )
    parser.add_argument(
        "--kill-at-features",
        type=int,
        default=200,
        help="first kill once the job has stored this many features",
    )
    args = parser.parse_args()
    if not Path(args.csv).is_file():
        raise SystemExit(f"{args.csv} not found: pass --csv with a larger collection")
    postgres_database_fresh(DB_NAME)
    subprocess.run(["redis-cli", "-n", REDIS_DB, "flushdb"], check=True, capture_output=True)
    var_dir = Path(tempfile.mkdtemp(prefix="muses-fault-train-"))
    env = {
        **os.environ,
        "MUSES_VAR_DIR": str(var_dir),
        "MUSES_WEIGHTS_DIR": str(ROOT / "var" / "weights"),
        "DATABASE_URL": DB_URL,
        "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "MUSES_Q_WORKERS": "1",
        "MUSES_API_OPEN": "1",
        "MUSES_LOG_LEVEL": "WARNING",
    }
    manage(env, "migrate", "-v", "0")
    manage(env, "muses_import", str(SAMPLE_CSV), "--no-features", "-v", "0")
    manage(env, "muses_extract_features", "-v", "0")
    tables = manage(env, "shell", "-c", TABLES).split()
    counts = manage(env, "shell", "-c", LABEL.format(tag=TAG, everything=False))
    say(f"sample imported with features; assignments (positive, negative): {counts}")

    port = 8000 + os.getpid() % 1000
    server, cluster = start(env, port)
    say(f"runserver (pid {server.pid}) and qcluster (pid {cluster.pid}) up")
    api = Api(f"http://127.0.0.1:{port}")
    failures: list[str] = []
    try:
        first = wait_finished(api, api.get(f"/custom/train/{TAG}")["task_id"], 180)
        db = psycopg.connect(DB_URL, autocommit=True)
        if first["state"] != "success":
            raise SystemExit(f"the first training did not succeed: {first}")
        sample_ids = [
            row[0]
            for row in db.execute(
                f"SELECT i.image_id FROM {tables[1]} f JOIN {tables[2]} i ON i.id = f.image_id"
            ).fetchall()
        ]
        before = api.predictions(sample_ids)
        say(
            f"version 1 trained: {first['metrics']['positives']} positives, "
            f"{first['metrics']['negatives']} negatives; versions {api.versions()}"
        )

        subset = more_rows(Path(args.csv), args.images, var_dir / "more.csv")
        root = str(Path(args.csv).parent)
        manage(env, "muses_import", str(subset), "--images-root", root, "--no-features", "-v", "0")
        counts = manage(env, "shell", "-c", LABEL.format(tag=TAG, everything=True))
        say(f"{args.images} more images imported without features; assignments now: {counts}")

        with db:
            for n, at_features in enumerate((args.kill_at_features, None), 1):
                kill = kill_mid_training(api, db, tables, cluster, at_features=at_features)
                if "missed" in kill:
                    failures.append(f"kill {n}: {kill['missed']}")
                    say(f"kill {n}: MISSED, {kill['missed']}")
                    continue
                status = kill["status"]
                say(
                    f"kill {n}: SIGKILL worker pid {kill['worker']} {kill['running_s']:.1f} s "
                    f"into the job, while {kill['phase']}; job {status['state']} "
                    f"{kill['detect_s']:.1f} s later ({status['error'] or 'no error'}); "
                    f"worker respawned: {kill['respawned']}"
                )
                if status["state"] in ("queued", "running"):
                    failures.append(f"kill {n}: the job is still {status['state']}")
                versions, after = api.versions(), api.predictions(sample_ids)
                same = after == before
                say(f"  versions {versions}; predictions of version 1 unchanged: {same}")
                if status["state"] == "error" and versions != [(1, True)]:
                    failures.append(f"kill {n}: versions {versions}, expected [(1, True)]")
                if not same:
                    failures.append(f"kill {n}: version 1 predicts differently")

            broken = db.execute(
                f"SELECT count(*) FROM {tables[1]} WHERE length(vector) <> dim * 4"
            ).fetchone()[0]
            say(f"stored feature rows of a wrong size: {broken}")
            if broken:
                failures.append(f"{broken} feature rows are half written")

        left = temp_files([var_dir, ROOT / "var" / "weights"], T0)
        say(f"temporary files left: {left or 'none'}")
        if left:
            failures.append(f"temporary files left: {left}")

        start_s = time.time()
        last = wait_finished(api, api.get(f"/custom/train/{TAG}")["task_id"], 300)
        say(
            f"training again on the respawned worker: {last['state']} as version "
            f"{last['version']} in {time.time() - start_s:.1f} s "
            f"({last['metrics'].get('positives')} positives, "
            f"{last['metrics'].get('negatives')} negatives); versions {api.versions()}"
        )
        if last["state"] != "success" or api.versions() != [(1, False), (2, True)]:
            failures.append(f"the training after the kills: {last['state']} {api.versions()}")
    finally:
        for process in (server, cluster):
            os.killpg(process.pid, signal.SIGTERM)
        for process in (server, cluster):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    print("FAIL: " + "; ".join(failures) if failures else "PASS")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
