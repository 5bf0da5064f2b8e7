"""What one image add costs besides the network: sequential adds through Django's WSGI
handler in this process (no HTTP server, no concurrency), with the forward pass replaced
by a stored vector, against the network's own CPU per image measured in the same run.

    .venv/bin/python bench/request_cost.py [--database postgres|sqlite] [--adds 400]

On a machine the network alone fills, an add can run at most at
network / (network + request path + database) of the raw rate, whatever the server.
"""

import argparse
import io
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import multipart, process_cpu_seconds, sample_images, server_env  # noqa: E402
from bench.engine_common import decode_cpu_ms, raw_rate  # noqa: E402


def wsgi_add(app, body: bytes, content_type: str, image_id: str) -> None:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/system/database/image/add",
        "QUERY_STRING": f"image_id={image_id}",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
    }
    status = []
    body_out = b"".join(app(environ, lambda s, headers, *exc: status.append(s)))
    if not status[0].startswith("201"):
        raise SystemExit(f"add {image_id} answered {status[0]}: {body_out[:200]!r}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--adds", type=int, default=400)
    args = parser.parse_args()
    os.environ.update(server_env(args.database))
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"], check=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "muses.settings")
    import django

    django.setup()
    import numpy as np
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    from muses.vision import batching
    from muses.vision.backbones import get_backbone

    backbone = get_backbone()
    streams = settings.MUSES_NETWORK_STREAMS
    raw, network_ms = raw_rate(backbone, 32, seconds=12, streams=streams)
    images = sample_images(64)
    # Everything of an add but the forward pass: the batcher hands back a stored vector.
    vector = backbone.extract(np.stack([backbone.pixels(images[0])]))[0]
    batching.DynamicBatcher.submit = lambda self, pixels: vector
    app = WSGIHandler()
    bodies = [multipart(data) for data in images]
    for i in range(50):  # warm: imports, connection, first queries
        wsgi_add(app, *bodies[i % len(bodies)], f"warm-{i}")
    pg_pid = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pg_pid = cursor.fetchone()[0]
    pg_before = process_cpu_seconds(pg_pid) if pg_pid else 0.0
    start = time.process_time()
    for i in range(args.adds):
        wsgi_add(app, *bodies[i % len(bodies)], f"add-{i}")
    request_ms = (time.process_time() - start) * 1e3 / args.adds
    database_ms = (process_cpu_seconds(pg_pid) - pg_before) * 1e3 / args.adds if pg_pid else 0
    decode_ms = decode_cpu_ms(backbone, images * 4)
    ceiling = network_ms / (network_ms + request_ms + database_ms)
    cores = raw * network_ms / 1e3
    print(f"backbone {backbone.name}, {connection.vendor}, {streams} passes at once")
    print(
        f"network alone: {raw:.1f} img/s, {network_ms:.2f} CPU ms/img "
        f"({cores:.2f} of {os.cpu_count()} cores busy)"
    )
    print(
        f"one add without the network, sequential, in-process: {request_ms:.2f} CPU ms "
        f"(of it decode + preprocess {decode_ms:.2f} ms); database server {database_ms:.2f} ms"
    )
    print(
        f"so on a machine the network fills, adds can reach at most {ceiling:.0%} of raw "
        "before any HTTP server, client or concurrency cost"
    )


if __name__ == "__main__":
    main()
