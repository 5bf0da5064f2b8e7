"""/predict/custom/<tag> latency and memory per process for each inference engine: each
engine:precision[:threads[:streams]] serves in a process of its own (a private SQLite
state folder), with a tag trained through the services on 20 + 20 sample images whose
features that engine computed; rounds interleave the engines.

    .venv/bin/python bench/predict_latency.py [--engines tensorflow:fp32,openvino:fp32::2]
        [--backbone efficientnet_lite0] [--repeats 30] [--rounds 2]

Per engine: the median server time of /predict/custom/<tag> through Django's test client
(multipart, decode, batcher, forward pass, scoring), the forward pass of one image alone,
and the process's resident memory after serving (VmRSS) and at its peak (VmHWM).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import SAMPLE, django_setup, manage  # noqa: E402
from bench.engine_common import engine_env  # noqa: E402

DEFAULT_ENGINES = "tensorflow:fp32,openvino:fp32::1,openvino:fp32::2"
TAG = "vessel"
PER_CLASS = 20


def memory_mib() -> dict:
    """Resident memory of this process now and at its peak, MiB (from /proc)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}


def median_ms(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def trained_tag(files: list[Path]) -> None:
    """The first 20 sample images as positives, the next 20 as negatives, trained."""
    from custom_tagging import services

    for index, path in enumerate(files[: 2 * PER_CLASS]):
        image = services.image_add(data=path.read_bytes(), name=path.name, image_id=f"s{index}")
        label = "positive" if index < PER_CLASS else "negative"
        services.assignment_set(image=image, tag_name=TAG, label=label)
    services.tag_train(tag=services.tag_get(name=TAG))


def serve(backbone_name: str, repeats: int, out: Path) -> None:
    """(in a child) train, then time predictions and read this process's memory."""
    django_setup()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from muses.vision.backbones import get_backbone

    backbone = get_backbone(backbone_name)
    files = sorted(SAMPLE.glob("*.jpg"))
    trained_tag(files)
    probe = files[2 * PER_CLASS]
    client, data = Client(), probe.read_bytes()

    def predict():
        upload = SimpleUploadedFile(probe.name, data, "image/jpeg")
        response = client.post(f"/predict/custom/{TAG}", {"data": upload})
        assert response.status_code == 200, response.content[:300]

    predict()
    pixels = backbone.pixels(probe)[None]
    figures = {
        "predict_ms": median_ms(predict, repeats),
        "forward_ms": median_ms(lambda: backbone.extract(pixels, batch_size=1), repeats),
        "numerics": backbone.numerics,
        **memory_mib(),
    }
    out.write_text(json.dumps(figures))


def run_child(spec: str, args, out: Path) -> dict:
    env = {
        **os.environ,
        **engine_env(spec),
        "MUSES_VAR_DIR": tempfile.mkdtemp(prefix="muses-bench-predict-"),
        "MUSES_API_OPEN": "1",
        "MUSES_LOG_LEVEL": "WARNING",
        "MUSES_BACKBONE": args.backbone,
    }
    env.setdefault("MUSES_WEIGHTS_DIR", str(ROOT / "var" / "weights"))
    env.pop("DATABASE_URL", None)
    manage(env, "migrate", "-v", "0")
    command = [sys.executable, __file__, "--serve", str(out), "--backbone", args.backbone]
    command += ["--repeats", str(args.repeats)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{spec} failed:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engines", default=DEFAULT_ENGINES, help="engine:precision list")
    parser.add_argument("--backbone", default="efficientnet_lite0", help="MUSES_BACKBONE")
    parser.add_argument("--repeats", type=int, default=30, help="timed predictions")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--serve", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.backbone, args.repeats, args.serve)
        return
    specs = [s.strip() for s in args.engines.split(",") if s.strip()]
    scratch = Path(tempfile.mkdtemp(prefix="muses-bench-predict-"))
    runs: dict[str, list[dict]] = {spec: [] for spec in specs}
    for round_index in range(args.rounds):
        for spec in specs:
            out = scratch / f"{spec.replace(':', '-')}-{round_index}.json"
            runs[spec].append(run_child(spec, args, out))
            print(f"round {round_index + 1}, {spec}: {runs[spec][-1]}", flush=True)
    base = statistics.median(r["predict_ms"] for r in runs[specs[0]])
    print(f"\n{args.backbone}, /predict/custom/{TAG}, median of {args.repeats} (each round)")
    print(
        f"{'engine:precision':22s} {'predict ms':>22s} {'vs first':>8s} {'forward ms':>10s} "
        f"{'RSS MiB':>8s} {'peak MiB':>8s}"
    )
    for spec in specs:
        each = [r["predict_ms"] for r in runs[spec]]
        predict = statistics.median(each)
        forward = statistics.median(r["forward_ms"] for r in runs[spec])
        rss = max(r["VmRSS"] for r in runs[spec])
        peak = max(r["VmHWM"] for r in runs[spec])
        rounds = ", ".join(f"{v:.1f}" for v in each)
        print(
            f"{spec:22s} {predict:7.1f} ({rounds})".ljust(46)
            + f" {predict / base:7.2f}x {forward:10.1f} {rss:8.0f} {peak:8.0f}"
        )


if __name__ == "__main__":
    main()
