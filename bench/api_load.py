"""Load test: concurrent clients mixing add, assign, predict and predict_batch against
gunicorn on this machine (loopback only). Reports throughput and p50/p99 latency per
endpoint, 5xx count, and checks that every acknowledged upload is stored.

    .venv/bin/python bench/api_load.py [--clients 50] [--requests 200] [--database postgres|sqlite]

Also measures 50 concurrent single-image adds against the backbone's raw batch throughput
(the dynamic batching figure) with --adds-only, and with --demo the seed's own Pool(50)
`add_sample` client adding 200 images to `make demo`'s server (bin/demo-serve on the
embedded defaults: SQLite, the ORM broker) beside the raw rate.
"""

import argparse
import http.client
import os
import random
import re
import statistics
import subprocess
import sys
import time
import zlib
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import (  # noqa: E402
    ROOT,
    SAMPLE,
    free_port,
    multipart,
    process_cpu_seconds,
    sample_images,
    server_env,
)

# The seed's client (customized-training.rst), run as printed but for the host and the list
# of images; a prelude makes every add that does not answer 201 fail the script.
SEED_POOL = """
import requests
_post = requests.post
def _post_expecting_201(*args, **kwargs):
    response = _post(*args, **kwargs)
    if response.status_code != 201:
        raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
    return response
requests.post = _post_expecting_201
import json, sys, time
seed_images = json.loads(sys.argv[1])
start = time.perf_counter()

from multiprocessing import Pool
import requests

def add_sample(item):
  img_path = item['path']
  image_id = item['image_id']
  with open(img_path, 'rb') as image:
      data = {'data': image}
      r = requests.post('http://127.0.0.1:5000/system/database/image/add?image_id=%s' % image_id, files=data).json()
  return r

pool = Pool(50)
images = seed_images
results = pool.map(add_sample, images)
pool.close()
pool.join()
print(len(results), time.perf_counter() - start)
"""  # noqa: E501


def start_server(env: dict, port: int, workers: int, threads: int) -> list[subprocess.Popen]:
    """gunicorn (which warms its backbone up before serving, see gunicorn.conf.py) and one
    django-q2 worker, which trains the tags the load test predicts with."""
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True)
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    processes = [
        subprocess.Popen(
            [
                gunicorn,
                "muses.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        ),
        subprocess.Popen(
            [*manage, "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/api/schema/", timeout=60)
            return processes
        except requests.RequestException:
            time.sleep(0.5)
    stop(processes)
    raise SystemExit("gunicorn did not start")


def server_cpu_seconds(master: int) -> float:
    """User + system CPU seconds of gunicorn's workers so far."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return sum(process_cpu_seconds(pid) for pid in children)


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=60)


class Client:
    def __init__(self, base: str, images: list[bytes]):
        self.base = base
        self.images = images
        self.session = requests.Session()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.added: list[str] = []

    def call(self, name: str, method: str, path: str, **kwargs):
        start = time.perf_counter()
        response = self.session.request(method, self.base + path, timeout=120, **kwargs)
        self.latencies[name].append(time.perf_counter() - start)
        if response.status_code >= 500:
            self.errors[name] += 1
        return response

    def add(self, image_id: str):
        data = {"data": ("img.jpg", random.choice(self.images), "image/jpeg")}
        response = self.call(
            "add", "POST", f"/system/database/image/add?image_id={image_id}", files=data
        )
        if response.status_code == 201:
            self.added.append(image_id)

    def step(self, client_no: int, step_no: int):
        kind = step_no % 4
        if kind == 0 or not self.added:
            return self.add(f"c{client_no}-{step_no}")
        image_id = random.choice(self.added)
        if kind == 1:
            label = random.choice(["positive", "negative"])
            return self.call(
                "assign", "GET", f"/custom/assign/{image_id}/{label}/load{client_no % 5}"
            )
        if kind == 2:
            return self.call("predict", "GET", f"/custom/predict/{image_id}")
        ids = ",".join(random.sample(self.added, min(20, len(self.added))))
        return self.call(
            "predict_batch", "GET", f"/custom/predict_batch?image_id={ids}&tags=load0,load1"
        )


def seed_trained_tags(base: str, images: list[bytes]) -> None:
    """Two trained tags, so that predictions have something to score."""
    session = requests.Session()
    for i, data in enumerate(images[:16]):
        session.post(
            f"{base}/system/database/image/add?image_id=seed{i}", files={"data": ("s.jpg", data)}
        )
    for tag in ("load0", "load1"):
        for i in range(16):
            session.get(f"{base}/custom/assign/seed{i}/{'positive' if i % 2 else 'negative'}/{tag}")
        task = session.get(f"{base}/custom/train/{tag}").json()["task_id"]
        for _ in range(120):
            if session.get(f"{base}/status/{task}").json().get("status") in ("success", "error"):
                break
            time.sleep(0.5)


def mixed_load(base: str, clients: int, per_client: int) -> None:
    images = sample_images()
    seed_trained_tags(base, images)
    workers = [Client(base, images) for _ in range(clients)]

    def run(index: int):
        for step in range(per_client):
            workers[index].step(index, step)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(run, range(clients)))
    seconds = time.perf_counter() - start
    total = sum(len(v) for w in workers for v in w.latencies.values())
    print(
        f"{clients} clients x {per_client} requests: {total} requests in {seconds:.1f} s "
        f"= {total / seconds:.0f} req/s"
    )
    for name in ("add", "assign", "predict", "predict_batch"):
        lat = sorted(x for w in workers for x in w.latencies[name])
        errors = sum(w.errors[name] for w in workers)
        if lat:
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            print(
                f"  {name:14s} n={len(lat):5d}  p50 {statistics.median(lat) * 1000:7.1f} ms  "
                f"p99 {p99 * 1000:7.1f} ms  5xx {errors}"
            )
    added = [i for w in workers for i in w.added]
    missing = [
        i
        for i in added
        if requests.get(f"{base}/custom/predict/{i}", timeout=60).status_code == 404
    ]
    print(f"acknowledged uploads: {len(added)}; missing afterwards: {len(missing)}")


def burst_adds(base: str, n: int = 50, rounds: int = 4) -> float:
    """n adds fired at once, one new connection each; images/s of the best round. Short:
    the server's start-up and drain of the burst weigh as much as its steady state."""
    images = sample_images(n)
    rates = []
    for r in range(rounds):
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=n) as pool:
            codes = list(
                pool.map(
                    lambda i, r=r: (
                        requests.post(
                            f"{base}/system/database/image/add?image_id=burst{r}-{i}",
                            files={"data": ("x.jpg", images[i % len(images)])},
                        ).status_code
                    ),
                    range(n),
                )
            )
        rates.append(n / (time.perf_counter() - start))
        assert codes.count(201) == n, codes
    return max(rates)


def add_loop(address: tuple[str, int], bodies: list, prefix: str, count: int) -> list[int]:
    """One client: `count` adds one after another on one keep-alive connection."""
    connection = http.client.HTTPConnection(*address, timeout=120)
    codes = []
    for i in range(count):
        body, content_type = bodies[(zlib.crc32(prefix.encode()) + i) % len(bodies)]
        path = f"/system/database/image/add?image_id={prefix}-{i}"
        connection.request("POST", path, body, {"Content-Type": content_type})
        response = connection.getresponse()
        response.read()
        codes.append(response.status)
    connection.close()
    return codes


def sustained_adds(
    base: str, clients: int = 50, per_client: int = 12, rounds: int = 3, prefix: str = "s"
) -> float:
    """`clients` concurrent clients, each adding `per_client` images one after another on
    its own keep-alive connection (a plain http.client loop, so the client's own CPU cost,
    on the same 2 cores, stays small); images/s of the best round."""
    host, port = base.removeprefix("http://").split(":")
    bodies = [multipart(data) for data in sample_images(64)]
    rates = []
    for r in range(rounds):
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            loops = [
                pool.submit(add_loop, (host, int(port)), bodies, f"{prefix}{r}-{c}", per_client)
                for c in range(clients)
            ]
            codes = [code for loop in loops for code in loop.result()]
        rates.append(len(codes) / (time.perf_counter() - start))
        assert codes.count(201) == len(codes), codes
    return max(rates)


def raw_batch_rate(seconds: float = 15) -> tuple[float, float]:
    """Tensor-only throughput of the configured backbone at batch 32, with as many forward
    passes at once as the server runs (MUSES_NETWORK_STREAMS), in a subprocess so the
    server does not compete with it."""
    code = (
        "import sys; sys.path.insert(0, '.'); import bench.engine_common as b, django, os;"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'muses.settings'); django.setup();"
        "from muses.vision.backbones import get_backbone; from django.conf import settings;"
        f"print(*b.raw_rate(get_backbone(), 32, {seconds}, settings.MUSES_NETWORK_STREAMS))"
    )
    env = {**os.environ, "MUSES_WEIGHTS_DIR": str(ROOT / "var" / "weights")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout
    rate, cpu_ms = out.strip().splitlines()[-1].split()
    return float(rate), float(cpu_ms)


def start_demo(env: dict, port: int) -> subprocess.Popen:
    """`make demo`'s server on a fresh embedded database, in its own process group."""
    env = {**env, "MUSES_PORT": str(port)}
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"], env=env, check=True
    )
    demo = subprocess.Popen(["bash", "bin/demo-serve"], cwd=ROOT, env=env, start_new_session=True)
    deadline = time.time() + 400
    while time.time() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/api/schema/", timeout=60)
            return demo
        except requests.RequestException:
            time.sleep(0.5)
    os.killpg(demo.pid, 15)
    raise SystemExit("the demo did not start")


def seed_pool_adds(port: int, n: int = 200) -> float:
    """The seed's Pool(50) add_sample adding n sample images; images/s (all must be 201)."""
    import json

    images = [
        {"image_id": f"seed{i}", "path": str(p)}
        for i, p in enumerate(sorted(SAMPLE.glob("*.jpg"))[:n])
    ]
    script = SEED_POOL.replace("127.0.0.1:5000", f"127.0.0.1:{port}")
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(images)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    count, seconds = out.split()
    assert int(count) == len(images)
    return len(images) / float(seconds)


def demo_adds() -> None:
    raw, raw_cpu_ms = raw_batch_rate()
    port = free_port()
    env = {**server_env("sqlite"), "MUSES_LOG_LEVEL": "WARNING"}
    demo = start_demo(env, port)
    try:
        rate = seed_pool_adds(port)
        stored = requests.get(f"http://127.0.0.1:{port}/", timeout=60).text
    finally:
        os.killpg(demo.pid, 15)
        demo.wait(timeout=60)
    print(f"raw batch-32 backbone throughput (same run): {raw:.1f} img/s")
    print(f"  ({raw_cpu_ms:.1f} CPU ms per image)")
    print(
        f"make demo (gunicorn 1 worker x 32 threads, SQLite, ORM broker), the seed's Pool(50) "
        f"add_sample, 200 images: {rate:.1f} img/s = {rate / raw:.0%} of raw, every reply 201"
    )
    count = re.search(r'<dd id="images">(\d+)</dd>', stored)
    print(f"images stored afterwards (the landing page's count): {count and count.group(1)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=25)
    parser.add_argument("--adds-only", action="store_true")
    parser.add_argument(
        "--demo", action="store_true", help="The seed's Pool(50) against make demo."
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="Set for the server only (the raw rate keeps the defaults), e.g. "
        "TF_NUM_INTRAOP_THREADS=1.",
    )
    args = parser.parse_args()
    if args.demo:
        return demo_adds()
    raw, raw_cpu_ms = raw_batch_rate() if args.adds_only else (None, None)
    port = free_port()
    env = {**server_env(args.database), **dict(kv.split("=", 1) for kv in args.server_env)}
    processes = start_server(env, port, args.workers, args.threads)
    base = f"http://127.0.0.1:{port}"
    try:
        if args.adds_only:
            cpu_before = server_cpu_seconds(processes[0].pid)
            sustained = sustained_adds(base, rounds=1, prefix="cpu")
            cpu_per_add = (server_cpu_seconds(processes[0].pid) - cpu_before) / (50 * 12)
            sustained = max(sustained, sustained_adds(base))
            burst = burst_adds(base)
            print(
                f"raw batch-32 backbone throughput (same run): {raw:.1f} img/s "
                f"({raw_cpu_ms:.1f} CPU ms/img)"
            )
            print(f"gunicorn {args.workers} worker(s) x {args.threads} threads")
            print(f"gunicorn CPU per sustained add: {cpu_per_add * 1e3:.1f} ms")
            print(
                f"50 clients adding single images, sustained: {sustained:.1f} img/s "
                f"= {sustained / raw:.0%} of raw"
            )
            print(f"a burst of 50 adds at once: {burst:.1f} img/s = {burst / raw:.0%} of raw")
        else:
            mixed_load(base, args.clients, args.requests)
    finally:
        stop(processes)


if __name__ == "__main__":
    main()
