"""Fault check: PostgreSQL restarts in the middle of an import; re-running the import
completes it without duplicates.

    .venv/bin/python bench/fault_postgres_restart.py [--csv PATH] [--after-items 400]

Restarts the local PostgreSQL cluster (pg_ctlcluster): run it on a machine of your own.
"""

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import EGYPTIAN_CSV as DEFAULT_CSV  # noqa: E402
from bench.common import ROOT, postgres_database_fresh  # noqa: E402

DB_NAME = "muses_bench_fault"


def restart_postgres() -> None:
    version = sorted(glob.glob("/etc/postgresql/*"))[-1].rsplit("/", 1)[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"],
        check=True,
    )


def counts(env: dict) -> str:
    code = (
        "from muses.collection.models import Item, Image; from django.db.models import Count;"
        "dup = Image.objects.values('item', 'sha256').annotate(n=Count('id'))"
        ".filter(n__gt=1).count();"
        "print(Item.objects.count(), Image.objects.count(), dup)"
    )
    return (
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv", default=str(DEFAULT_CSV))
    parser.add_argument(
        "--after-items", type=int, default=400, help="restart once this many items exist"
    )
    args = parser.parse_args()
    database_url = postgres_database_fresh(DB_NAME)
    env = {
        **os.environ,
        "MUSES_VAR_DIR": tempfile.mkdtemp(prefix="muses-fault-"),
        "DATABASE_URL": database_url,
    }
    command = [sys.executable, "manage.py", "muses_import", args.csv, "--no-features", "-v", "0"]
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )

    first = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    while int(counts(env).split()[0]) < args.after_items:  # restart mid-import, not before it
        time.sleep(0.2)
    restart_postgres()
    out, err = first.communicate()
    Path("/tmp/fault-first-run.log").write_text(err)
    print(f"first run exit code {first.returncode}: {err.strip().splitlines()[-3:]}")
    for _ in range(30):  # wait for the server to accept connections again
        if subprocess.run(["pg_isready", "-h", "127.0.0.1"], capture_output=True).returncode == 0:
            break
        time.sleep(1)
    print("after the interrupted run: items, images, duplicate images =", counts(env))
    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    print(f"re-run exit code {second.returncode}: {second.stdout.strip()}")
    print("after the re-run: items, images, duplicate images =", counts(env))


if __name__ == "__main__":
    main()
