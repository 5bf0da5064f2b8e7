"""Do the features of a faster engine or a reduced precision keep their quality? Each
engine:precision computes the vectors of the whole Egyptian CC0 collection in a process of
its own; they are compared with the first one's (fp32) on the adoption test of
muses/vision/inference.py:

- the 20 + 20 custom-tag protocol of bench/tagging_quality.py (coin, statue vs vessel):
  accuracy on unseen images;
- a tag trained on the reference vectors scores the same images' vectors of the other
  engine within a mean absolute difference of 0.01;
- with --naive, the naive classifier's test accuracy after its transfer phase (which is
  deterministic, bench/naive_quality.py --fine-tuning 0) within 0.5 points.

    .venv/bin/python bench/engine_quality.py [--engines tensorflow:fp32,openvino:fp32,openvino:bf16]
        [--naive] [--repeats 20] [--backbone efficientnet_lite2]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.engine_common import (  # noqa: E402
    ACCURACY_LIMIT,
    DEFAULT_DATA,
    engine_env,
    feature_agreement,
    tag_quality,
)

DEFAULT_ENGINES = "tensorflow:fp32,openvino:fp32,openvino:bf16"
BATCH = 32


# --- a process per engine -------------------------------------------------------------


def extract_all(data_dir: Path, out: Path, backbone_name: str) -> None:
    """(in a child) every collection image's vector through the configured engine."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "muses.settings")
    os.environ.setdefault("MUSES_WEIGHTS_DIR", str(ROOT / "var" / "weights"))
    import django

    django.setup()
    from muses.vision.backbones import get_backbone

    backbone = get_backbone(backbone_name)
    files = sorted((data_dir / "images").glob("*.jpg"))
    if not files:
        raise SystemExit(f"no images in {data_dir / 'images'}: pass --data")
    pixels = np.stack([backbone.pixels(path) for path in files])
    start = time.perf_counter()
    vectors = backbone.extract(pixels, batch_size=BATCH)
    seconds = time.perf_counter() - start
    np.savez(out, **{path.name: vector for path, vector in zip(files, vectors)})
    print(json.dumps({"numerics": backbone.numerics, "seconds": seconds, "images": len(files)}))


def run_extraction(spec: str, data_dir: Path, out: Path, backbone: str) -> dict:
    command = [sys.executable, __file__, "--extract-to", str(out), "--data", str(data_dir)]
    command += ["--backbone", backbone]
    result = subprocess.run(
        command, env={**os.environ, **engine_env(spec)}, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"{spec} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_naive(spec: str, var_dir: Path) -> float:
    command = [sys.executable, str(ROOT / "bench" / "naive_quality.py"), "--fine-tuning", "0"]
    command += ["--var-dir", str(var_dir)]
    env = {**os.environ, **engine_env(spec), "MUSES_WEIGHTS_DIR": str(ROOT / "var" / "weights")}
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"naive {spec} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])["test_accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="egyptian-cc0 folder")
    parser.add_argument("--engines", default=DEFAULT_ENGINES, help="engine:precision list")
    parser.add_argument("--repeats", type=int, default=20, help="random 20+20 draws")
    parser.add_argument("--naive", action="store_true", help="Also the naive classifier.")
    parser.add_argument("--backbone", default="efficientnet_lite0", help="Whose vectors.")
    parser.add_argument("--extract-to", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.extract_to:
        extract_all(args.data, args.extract_to, args.backbone)
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "muses.settings")
    os.environ.setdefault("MUSES_LOG_LEVEL", "WARNING")
    specs = [s.strip() for s in args.engines.split(",") if s.strip()]
    scratch = Path(tempfile.mkdtemp(prefix="muses-engine-quality-"))
    vectors, naive = {}, {}
    for spec in specs:
        out = scratch / f"{spec.replace(':', '-')}.npz"
        info = run_extraction(spec, args.data, out, args.backbone)
        vectors[spec] = dict(np.load(out).items())
        print(f"{spec}: {info['images']} vectors by {info['numerics']} in {info['seconds']:.1f} s")
        if args.naive:
            naive[spec] = run_naive(spec, scratch / f"naive-{spec.replace(':', '-')}")
            print(f"{spec}: naive classifier test accuracy (transfer phase) {naive[spec]:.4f}")
    csv_path = args.data / "collection.csv"
    reference = specs[0]
    for spec in specs:
        print(f"\n{spec} against {reference}:")
        print(f"  features: {feature_agreement(vectors[reference], vectors[spec])}")
        print(f"  tags: {tag_quality(vectors[reference], vectors[spec], csv_path, args.repeats)}")
        if args.naive:
            gap = naive[spec] - naive[reference]
            verdict = "kept" if abs(gap) <= ACCURACY_LIMIT else "NOT kept"
            print(
                f"  naive test accuracy {naive[spec] * 100:.1f}% ({gap * 100:+.1f} points; "
                f"{verdict}, limit 0.5)"
            )


if __name__ == "__main__":
    main()
