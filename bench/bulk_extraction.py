"""Bulk feature extraction over a whole collection, decoding included, against the raw
tensor throughput of the same backbone measured in the same run.

    .venv/bin/python bench/bulk_extraction.py [--csv PATH] [--backbone efficientnet_lite0]
    .venv/bin/python bench/bulk_extraction.py --engines tensorflow:fp32,openvino:fp32,openvino:bf16

With --engines, each engine:precision[:threads] runs the whole bench in a process of its
own (engines' thread pools would otherwise take turns with each other), round after round
interleaved, and the table compares them with the first one, the quality of their
features beside: how far their vectors are from the first's, and the custom-tag protocol
of bench/tagging_quality.py on them.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.engine_common import (  # noqa: E402
    decode_cpu_ms,
    engine_env,
    feature_agreement,
    raw_rate,
    tag_quality,
)

DEFAULT_CSV = ROOT.parent / "shared" / "data" / "egyptian-cc0" / "collection.csv"


def prepare(csv_path: Path) -> None:
    """A fresh database holding the collection, without features."""
    os.environ["MUSES_VAR_DIR"] = tempfile.mkdtemp(prefix="muses-bench-bulk-")
    os.environ.setdefault("MUSES_WEIGHTS_DIR", str(ROOT / "var" / "weights"))
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], check=True)
    subprocess.run([*manage, "muses_import", str(csv_path), "--no-features", "-v", "0"], check=True)


def collection_sources() -> list:
    """Every stored image of the collection, as decode_cpu_ms takes them."""
    from muses.collection.models import Image
    from muses.vision.store import image_source

    return [image_source(image) for image in Image.objects.order_by("id")]


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--decode-workers", type=int, default=None)
    parser.add_argument(
        "--streams", type=int, default=None, help="Default: MUSES_NETWORK_STREAMS (2)."
    )
    parser.add_argument(
        "--engines",
        default="",
        help="Compare these engine:precision[:threads], each in its own process.",
    )
    parser.add_argument("--rounds", type=int, default=1, help="Interleaved rounds (--engines).")
    parser.add_argument("--raw-seconds", type=float, default=15, help="Each raw-rate timing.")
    parser.add_argument("--json", type=Path, default=None, help="Write figures and vectors here.")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.engines:
        compare_engines(args)
        return
    prepare(args.csv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "muses.settings")
    import django

    django.setup()
    from django.conf import settings

    from muses.vision.backbones import get_backbone
    from muses.vision.store import features_extract

    streams = args.streams or settings.MUSES_NETWORK_STREAMS
    backbone = get_backbone(args.backbone)
    # The machine is shared: the network alone is timed before and after the bulk run,
    # and the bulk rate compared with the mean of the two. Raw runs as many forward
    # passes at once as the bulk run does (the faster way: the stricter comparison);
    # one pass at a time is printed too.
    single = raw_rate(backbone, args.batch_size, args.raw_seconds)
    decode_ms = decode_cpu_ms(backbone, collection_sources())
    before = raw_rate(backbone, args.batch_size, args.raw_seconds, streams=streams)
    start, cpu = time.perf_counter(), time.process_time()
    report = features_extract(
        backbone=backbone,
        batch_size=args.batch_size,
        progress=True,
        decode_workers=args.decode_workers,
        streams=streams,
    )
    seconds = time.perf_counter() - start
    bulk_cpu = (time.process_time() - cpu) * 1e3 / max(report.extracted, 1)
    after = raw_rate(backbone, args.batch_size, args.raw_seconds, streams=streams)
    raw, raw_cpu = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
    bulk = report.extracted / seconds
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"backbone {backbone.name}, batch {args.batch_size}, {streams} stream(s)")
    print(f"raw, one forward pass at a time: {single[0]:.1f} img/s ({single[1]:.2f} CPU ms/img)")
    print(
        f"raw tensor throughput, {streams} at a time: {raw:.1f} img/s ({raw_cpu:.2f} CPU ms/img; "
        f"{before[0]:.1f} before, {after[0]:.1f} after the bulk run)"
    )
    print(
        f"bulk extraction, decoding + DB writes included: {report.extracted} images in "
        f"{seconds:.1f} s = {bulk:.1f} img/s ({bulk / raw:.0%} of raw; {bulk_cpu:.2f} CPU ms/img); "
        f"{report.failed} failed"
    )
    # Where the network alone keeps every core busy, each image's decoding is taken from
    # the network's time: this is the best bulk extraction can do here.
    cores = raw * raw_cpu / 1e3
    print(
        f"decoding + preprocessing alone, one thread: {decode_ms:.2f} CPU ms/img; the network "
        f"keeps {cores:.2f} of {os.cpu_count()} cores busy, so bulk can reach at most "
        f"{raw_cpu / (raw_cpu + decode_ms):.0%} of raw here"
    )
    print(f"peak memory of this process: {peak_mib:.0f} MiB")
    print(f"engine {backbone.engine.name} {backbone.engine.precision}")
    if args.json:
        figures = {"bulk": bulk, "raw": raw, "single": single[0], "peak_mib": peak_mib}
        save_run(args.json, backbone, figures)


def save_run(path: Path, backbone, figures: dict) -> None:
    """The run's figures (JSON) and every stored vector by file name (.npz beside it)."""
    from muses.vision.models import ImageFeature

    rows = ImageFeature.objects.filter(backbone=backbone.name).select_related("image")
    vectors = {
        Path(row.image.original_name or row.image.image_id).name: row.as_array() for row in rows
    }
    import numpy as np

    np.savez(path.with_suffix(".npz"), **vectors)
    figures = {**figures, "engine": backbone.engine.name, "precision": backbone.engine.precision}
    path.write_text(json.dumps(figures))


# --- several engines side by side ----------------------------------------------------


def run_child(spec: str, args, out: Path) -> dict:
    command = [sys.executable, __file__, "--csv", str(args.csv), "--backbone", args.backbone]
    command += ["--batch-size", str(args.batch_size), "--json", str(out)]
    command += ["--raw-seconds", str(args.raw_seconds)]
    if args.streams:
        command += ["--streams", str(args.streams)]
    env = {**os.environ, **engine_env(spec)}
    env.pop("MUSES_VAR_DIR", None)
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{spec} failed:\n{result.stderr[-3000:]}")
    lines = [line for line in result.stdout.splitlines() if not line.startswith("features")]
    print(f"  [{spec}] " + "\n  ".join(lines[-6:]), flush=True)
    return json.loads(out.read_text())


def compare_engines(args) -> None:
    specs = [s.strip() for s in args.engines.split(",") if s.strip()]
    scratch = Path(tempfile.mkdtemp(prefix="muses-bench-engines-"))
    runs: dict[str, list[dict]] = {spec: [] for spec in specs}
    for round_index in range(args.rounds):
        for spec in specs:
            out = scratch / f"{spec.replace(':', '-')}-{round_index}.json"
            print(f"round {round_index + 1}, {spec}:", flush=True)
            runs[spec].append(run_child(spec, args, out))
    vectors = {spec: dict(load_vectors(scratch, spec)) for spec in specs}
    print_engine_table(specs, runs, vectors, args.csv)


def load_vectors(scratch: Path, spec: str):
    import numpy as np

    return np.load(scratch / f"{spec.replace(':', '-')}-0.npz").items()


def print_engine_table(specs, runs, vectors, csv_path: Path) -> None:
    reference = specs[0]
    base = statistics.median(r["bulk"] for r in runs[reference])
    print(f"\nbulk extraction, {len(vectors[reference])} images; ratios against {reference}")
    print(
        f"{'engine:precision':24s} {'bulk img/s (each round)':30s} {'ratio':>6s} "
        f"{'raw img/s':>9s} {'peak MiB':>8s}  features vs {reference}"
    )
    for spec in specs:
        bulks = [r["bulk"] for r in runs[spec]]
        bulk = statistics.median(bulks)
        raw = statistics.median(r["raw"] for r in runs[spec])
        peak = max(r["peak_mib"] for r in runs[spec])
        agreement = feature_agreement(vectors[reference], vectors[spec])
        each = ", ".join(f"{b:.1f}" for b in bulks)
        print(
            f"{spec:24s} {bulk:7.1f} ({each})".ljust(56)
            + f" {bulk / base:5.2f}x {raw:9.1f} {peak:8.0f}  {agreement}"
        )
    print("\nquality on these vectors (bench/tagging_quality.py protocol, 20 draws):")
    for spec in specs:
        print(f"  {spec}: {tag_quality(vectors[reference], vectors[spec], csv_path)}")


if __name__ == "__main__":
    main()
