"""Fault check: SIGKILL the web server in the middle of concurrent uploads. Afterwards no
Image row lacks its file, and the files without a row (renamed but never committed) are
removed by `muses_media_gc`.

    .venv/bin/python bench/fault_kill_uploads.py [--clients 20] [--after 3]
"""

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, free_port, manage, sample_images, server_env  # noqa: E402


def upload_until_refused(base: str, images: list[bytes], client: int, acked: list[str]) -> None:
    for step in range(10_000):
        image_id = f"k{client}-{step}"
        try:
            response = requests.post(
                f"{base}/system/database/image/add?image_id={image_id}",
                files={"data": ("x.jpg", images[(client + step) % len(images)])},
                timeout=30,
            )
        except requests.RequestException:
            return
        if response.status_code == 201:
            acked.append(image_id)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument(
        "--after", type=float, default=3.0, help="seconds of uploads before the kill"
    )
    args = parser.parse_args()
    env = server_env("postgres")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "muses.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "10",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            requests.get(f"{base}/api/schema/", timeout=30)
            break
        except requests.RequestException:
            time.sleep(0.5)
    images, acked = sample_images(), []
    threads = [
        threading.Thread(target=upload_until_refused, args=(base, images, c, acked))
        for c in range(args.clients)
    ]
    for thread in threads:
        thread.start()
    time.sleep(args.after)
    os.killpg(server.pid, signal.SIGKILL)  # master and workers, mid-request
    for thread in threads:
        thread.join()
    check = (
        "from pathlib import Path; from django.conf import settings;"
        "from muses.collection.models import Image;"
        "rows = list(Image.objects.values_list('image_id', 'file'));"
        "files = {p.relative_to(settings.MEDIA_ROOT).as_posix()"
        " for p in Path(settings.MEDIA_ROOT, 'images').rglob('*') if p.is_file()};"
        "print(len(rows), sum(1 for _, f in rows if f not in files),"
        " len(files - {f for _, f in rows}))"
    )
    rows, rows_without_file, files_without_row = manage(env, "shell", "-c", check).split()
    stored = set(
        manage(
            env,
            "shell",
            "-c",
            "from muses.collection.models import Image;"
            "print(','.join(Image.objects.values_list('image_id', flat=True)))",
        ).split(",")
    )
    lost = [i for i in acked if i not in stored]
    print(
        f"killed after {args.after:.0f} s of uploads by {args.clients} clients; "
        f"acknowledged {len(acked)}; "
        f"rows {rows}; acknowledged but missing {len(lost)}"
    )
    print(
        f"rows without a file: {rows_without_file}; "
        f"files without a row before GC: {files_without_row}"
    )
    print("muses_media_gc:", manage(env, "muses_media_gc", "--min-age", "0"))


if __name__ == "__main__":
    main()
