"""The seed's workflow against the demo stack (runserver + qcluster, SQLite, real
EfficientNet-Lite0): the Pool(50) add_sample snippet over 500 images (errors, lost images,
images/s), a training through the queue (visible in /status at once, time to success),
and /predict/custom/<tag> latency against the backbone's single-image forward time.

    .venv/bin/python bench/tagging_seed.py [--images 500] [--data ../shared/data/egyptian-cc0]

Targets (issue 5): zero errors and zero lost; predict <= 1.3x the single forward time.
"""

import argparse
import csv
import logging
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, free_port  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "egyptian-cc0"
COIN = re.compile(r"\bcoins?\b", re.IGNORECASE)
BASE = ""  # set in main(); add_sample must be a module-level function for Pool


VAR_DIR = tempfile.mkdtemp(prefix="muses-bench-seed-")


def start_stack(port: int) -> list[subprocess.Popen]:
    env = {
        **os.environ,
        "MUSES_VAR_DIR": VAR_DIR,
        "MUSES_WEIGHTS_DIR": str(ROOT / "var" / "weights"),
        "MUSES_API_OPEN": "1",
        "MUSES_LOG_LEVEL": "WARNING",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], env=env, check=True)
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    web = subprocess.Popen([*manage, "runserver", f"127.0.0.1:{port}", "--noreload"], **quiet)
    worker = subprocess.Popen([*manage, "qcluster"], **quiet)
    for _ in range(120):
        try:
            requests.get(f"http://127.0.0.1:{port}/api/tags", timeout=1)
            return [web, worker]
        except requests.ConnectionError:
            time.sleep(0.5)
    raise SystemExit("runserver did not start")


def stop_stack(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


# The seed's snippet, with the host of this run.
def add_sample(item):
    img_path = item["path"]
    image_id = item["image_id"]
    with open(img_path, "rb") as image:
        data = {"data": image}
        r = requests.post(
            f"{BASE}/system/database/image/add?image_id=%s" % image_id, files=data
        ).json()
    return r


def init_worker(base: str) -> None:
    global BASE
    BASE = base


def seed_pool(rows: list[dict], data_dir: Path, base: str) -> None:
    images = [
        {"image_id": r["object_number"], "path": str(data_dir / r["image_file"])} for r in rows
    ]
    # Warm the backbone so the figure is steady-state throughput, not model loading.
    requests.post(f"{base}/predict", files={"data": open(images[0]["path"], "rb")}, timeout=300)
    start = time.perf_counter()
    pool = Pool(50, initializer=init_worker, initargs=(base,))
    results = pool.map(add_sample, images)
    pool.close()
    pool.join()
    elapsed = time.perf_counter() - start
    errors = [r for r in results if "image_id" not in r]
    stored = requests.get(f"{base}/api/images?limit=1", timeout=30).json()["count"]
    print(
        f"Pool(50) add_sample x {len(images)}: {elapsed:.1f} s, "
        f"{len(images) / elapsed:.1f} images/s, errors {len(errors)}, "
        f"stored {stored} (lost {len(images) - stored})"
    )
    for error in errors[:3]:
        print(f"  e.g. {error}")


def train_coin(rows: list[dict], base: str) -> str:
    coins = [
        r["object_number"] for r in rows if COIN.search(r["title"]) or r["object_type"] == "Coin"
    ]
    others = [r["object_number"] for r in rows if r["object_number"] not in set(coins)]
    for image_id in coins[:20]:
        requests.get(f"{base}/custom/assign/{image_id}/positive/coin", timeout=30)
    for image_id in others[:20]:
        requests.get(f"{base}/custom/assign/{image_id}/negative/coin", timeout=30)
    start = time.perf_counter()
    task_id = requests.get(f"{base}/custom/train/coin", timeout=30).json()["task_id"]
    first = requests.get(f"{base}/status/{task_id}", timeout=30).json()["state"]
    while (status := requests.get(f"{base}/status/{task_id}", timeout=30).json())["state"] in (
        "queued",
        "running",
    ):
        time.sleep(0.1)
    print(
        f"training coin ({min(20, len(coins))}+20): /status right after /custom/train: "
        f"{first!r}; {status['state']} after {time.perf_counter() - start:.1f} s "
        f"(queue poll included), OOF F1 {status['metrics'].get('f1')}"
    )
    return coins[0]


def median_time(call, repeats: int) -> float:
    times = []
    for _ in range(repeats + 3):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times[3:])


def http_latency(path: Path, base: str, repeats: int) -> tuple[float, float]:
    """(predict over HTTP, the same server's floor: a 404 from /status)."""
    data = path.read_bytes()
    with requests.Session() as session:

        def predict():
            response = session.post(f"{base}/predict/custom/coin", files={"data": data}, timeout=60)
            assert response.status_code == 200, response.text

        floor = median_time(lambda: session.get(f"{base}/status/none", timeout=60), repeats)
        return median_time(predict, repeats), floor


def in_process(path: Path, repeats: int) -> tuple[float, float, float, float]:
    """(server time of /predict/custom/coin through Django's test client, the same with
    the batcher's gather window at 0, backbone forward of one image, a 404 through the same
    stack), in this process on the run's database, servers stopped."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="muses.settings",
        MUSES_VAR_DIR=VAR_DIR,
        MUSES_API_OPEN="1",
        MUSES_WEIGHTS_DIR=str(ROOT / "var" / "weights"),
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from muses.collection.decode import decode_image
    from muses.vision.backbones import get_backbone
    from muses.vision.batching import batcher_for

    backbone = get_backbone("efficientnet_lite0")
    pixels = backbone.preprocess(decode_image(path).image)[None]
    forward = median_time(lambda: backbone.extract(pixels, batch_size=1), repeats)
    client, data = Client(), path.read_bytes()

    def predict():
        upload = SimpleUploadedFile(path.name, data, "image/jpeg")
        assert client.post("/predict/custom/coin", {"data": upload}).status_code == 200

    server = median_time(predict, repeats)
    batcher_for(backbone).wait_s = 0.0  # what MUSES_BATCH_WAIT_MS=0 would give
    no_wait = median_time(predict, repeats)
    logging.getLogger("django.request").setLevel(logging.ERROR)  # the 404s below
    floor = median_time(lambda: client.get("/status/none"), repeats)
    return server, no_wait, forward, floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="egyptian-cc0 folder")
    parser.add_argument("--images", type=int, default=500, help="images to add with Pool(50)")
    parser.add_argument("--repeats", type=int, default=30, help="timed predict calls")
    args = parser.parse_args()
    with open(args.data / "collection.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    coins = [r for r in rows if COIN.search(r["title"]) or r["object_type"] == "Coin"]
    chosen = coins[:25] + [r for r in rows if r not in coins][: args.images - 25]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    print(f"cpus: {os.cpu_count()}; runserver + qcluster on {base}, SQLite")
    stack = start_stack(port)
    try:
        seed_pool(chosen, args.data, base)
        coin_id = train_coin(chosen, base)
        probe = args.data / next(r["image_file"] for r in chosen if r["object_number"] == coin_id)
        over_http, floor = http_latency(probe, base, args.repeats)
    finally:
        stop_stack(stack)
    server, no_wait, forward, floor_in_process = in_process(probe, args.repeats)
    print(f"backbone forward of one image (batch 1): median {forward * 1000:.1f} ms")
    print(
        f"/predict/custom/coin server time (Django in process: multipart, decode, batcher, "
        f"scoring): median {server * 1000:.1f} ms, ratio {server / forward:.2f}  target <= 1.3"
    )
    print(
        f"  the same with the batcher's gather window at 0 ms (MUSES_BATCH_WAIT_MS=0): "
        f"median {no_wait * 1000:.1f} ms, ratio {no_wait / forward:.2f}; Django+DRF floor "
        f"(a 404 through the same stack): {floor_in_process * 1000:.1f} ms"
    )
    print(
        f"/predict/custom/coin over HTTP to runserver: median {over_http * 1000:.1f} ms "
        f"(runserver's floor, a 404: {floor * 1000:.1f} ms)"
    )


if __name__ == "__main__":
    main()
