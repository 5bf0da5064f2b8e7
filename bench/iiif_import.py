"""IIIF import: a collection of manifests served by a local IIIF Image + Presentation server
that answers each request after a delay, as a remote museum server does. Imports it with
one download thread and with N threads (twice each, alternating) into an emptied database
each time, then re-imports (which must fetch no image), and prints the times and the ratio.
Timed in one process, without Django's start-up; the server pre-renders its images so that
it costs the import no CPU.

    .venv/bin/python bench/iiif_import.py [--images 200] [--per-manifest 5] \\
        [--latency 0.05] [--workers 4]
"""

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["MUSES_VAR_DIR"] = tempfile.mkdtemp(prefix="muses-bench-iiif-")
os.environ.pop("DATABASE_URL", None)  # a fresh SQLite database
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "muses.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from muses.collection.models import Image, Item  # noqa: E402
from tests.collection.iiif_server import (  # noqa: E402
    collection_v3,
    manifest_v3,
    start_server,
    stop_server,
)

IMAGES = ROOT.parent / "shared" / "data" / "egyptian-cc0" / "images"
FALLBACK_IMAGES = ROOT / "sample" / "egyptian-cc0" / "images"


def serve_collection(server, files: list[Path], per_manifest: int) -> str:
    members = []
    for start in range(0, len(files), per_manifest):
        chunk = files[start : start + per_manifest]
        for path in chunk:
            server.add_image(path.stem, path)
            server.answer(f"/iiif/3/{path.stem}/full/max/0/default.jpg")  # pre-render
        name = f"m{start // per_manifest}"
        manifest = manifest_v3(server, name, [{"identifier": p.stem} for p in chunk])
        members.append(("Manifest", server.add_json(f"/manifests/{name}.json", manifest)))
    return server.add_json("/collections/all.json", collection_v3(server, "all", members))


def run_import(url: str) -> tuple[float, str]:
    out = io.StringIO()
    start = time.perf_counter()
    call_command(
        "muses_import", url, "--importer", "iiif", "--no-features", verbosity=0, stdout=out
    )
    return time.perf_counter() - start, out.getvalue().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--per-manifest", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    source = IMAGES if IMAGES.is_dir() else FALLBACK_IMAGES
    files = sorted(source.glob("*.jpg"))[: args.images]
    server, httpd, thread = start_server()
    try:
        url = serve_collection(server, files, args.per_manifest)
        server.latency = args.latency
        print(
            f"{len(files)} images in {len(files) // args.per_manifest} manifests, "
            f"{args.latency * 1000:.0f} ms per request"
        )
        times = {}
        # Twice each, alternating: the first run also pays one-time costs (imports, caches).
        for workers in (1, args.workers, 1, args.workers):
            Item.objects.all().delete()
            Image.objects.all().delete()
            settings.MUSES_IIIF_WORKERS = workers
            settings.MUSES_IIIF_ALLOW_PRIVATE = True  # the local server is on 127.0.0.1
            times[workers], summary = run_import(url)
            print(f"{workers} download thread(s): {times[workers]:.1f} s  ({summary})")
        server.requests.clear()
        again, summary = run_import(url)
        print(f"re-run: {again:.1f} s, {len(server.image_requests())} image requests ({summary})")
        print(
            f"speed-up with {args.workers} threads (second runs): "
            f"{times[1] / times[args.workers]:.2f}x"
        )
    finally:
        stop_server(server, httpd, thread)


if __name__ == "__main__":
    main()
