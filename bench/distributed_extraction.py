"""Two django-q2 workers share the feature extraction of a collection over Redis and
PostgreSQL; every image is processed exactly once.

    .venv/bin/python bench/distributed_extraction.py [--csv PATH] [--workers 2]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres) and Redis on 127.0.0.1:6379.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, manage, postgres_database_fresh  # noqa: E402

DB_NAME = "muses_bench_distributed"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv", default=str(ROOT / "sample" / "egyptian-cc0" / "collection.csv"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()

    database_url = postgres_database_fresh(DB_NAME)
    env = {
        **os.environ,
        "MUSES_VAR_DIR": tempfile.mkdtemp(prefix="muses-bench-dist-"),
        "MUSES_WEIGHTS_DIR": str(ROOT / "var" / "weights"),
        "DATABASE_URL": database_url,
        "REDIS_URL": "redis://127.0.0.1:6379/15",
        "MUSES_Q_WORKERS": "1",
    }
    subprocess.run(["redis-cli", "-n", "15", "flushdb"], check=True, capture_output=True)
    manage(env, "migrate", "-v", "0")
    manage(env, "muses_import", args.csv, "--no-features", "-v", "0")
    total = int(
        manage(env, "from muses.collection.models import Image; print(Image.objects.count())")
    )
    manage(env, "muses_extract_features", "--queue", "--chunk", "32")

    start = time.perf_counter()
    workers = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "qcluster"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(args.workers)
    ]
    try:
        done = 0
        while done < total and time.perf_counter() - start < args.timeout:
            time.sleep(2)
            done = int(
                manage(
                    env,
                    "from muses.vision.models import ImageFeature;"
                    "print(ImageFeature.objects.count())",
                )
            )
        seconds = time.perf_counter() - start
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
    report = manage(
        env,
        (
            "from django_q.models import Success; from collections import Counter;"
            "tasks = list(Success.objects.filter(func='muses.vision.tasks.features_extract_task'));"
            "print(len(tasks), sum(t.result for t in tasks), len({t.group or t.id for t in tasks}))"
        ),
    )
    tasks, processed, _ = (int(x) for x in report.split())
    print(f"workers: {args.workers}; images: {total}; features stored: {done}; tasks: {tasks}")
    print(
        f"images processed by tasks (sum of task results): {processed} "
        f"({'exactly once each' if processed == total == done else 'MISMATCH'})"
    )
    print(f"wall time with {args.workers} workers: {seconds:.1f} s ({done / seconds:.1f} img/s)")


if __name__ == "__main__":
    main()
