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
        [--naive] [--repeats 20]
"""

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The collection beside the repository; MUSES_BENCH_DATA names it elsewhere.
DEFAULT_DATA = Path(os.getenv("MUSES_BENCH_DATA", ROOT.parent / "shared" / "data" / "egyptian-cc0"))
DEFAULT_ENGINES = "tensorflow:fp32,openvino:fp32,openvino:bf16"
TAG_SCORE_LIMIT = 0.01
NAIVE_LIMIT = 0.005  # accuracy points, as a fraction: 0.5 points
BATCH = 32


def engine_env(spec: str) -> dict:
    """engine:precision[:threads[:streams]] as the settings' environment variables."""
    engine, precision, *rest = spec.split(":")
    env = {"MUSES_INFERENCE": engine, "MUSES_PRECISION": precision, "TF_CPP_MIN_LOG_LEVEL": "2"}
    for name, value in zip(("MUSES_INFERENCE_THREADS", "MUSES_INFERENCE_STREAMS"), rest):
        if value:
            env[name] = value
    return env


# --- the comparisons (also used by bench/bulk_extraction.py) --------------------------


def feature_agreement(reference: dict, vectors: dict) -> str:
    names = sorted(set(reference) & set(vectors))
    a = np.stack([reference[n] for n in names])
    b = np.stack([vectors[n] for n in names])
    relative = np.abs(a - b).max(axis=1) / np.maximum(np.abs(a).max(axis=1), 1e-12)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosine = (a * b).sum(1) / np.maximum(norms, 1e-12)
    return (
        f"max rel diff {relative.max():.1e} (median {np.median(relative):.1e}), "
        f"min cosine {cosine.min():.6f}"
    )


def concepts_by_name(csv_path: Path) -> dict[str, tuple[list[str], list[str]]]:
    from bench.tagging_quality import concepts

    with open(csv_path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["image_file"] = Path(row["image_file"]).name
    return concepts(rows)


def tag_quality(reference: dict, vectors: dict, csv_path: Path, repeats: int = 20) -> str:
    """Accuracy of the 20 + 20 protocol on these vectors, and how far a tag trained on the
    reference vectors scores these ones from the reference ones (mean abs, worst draw)."""
    from bench.tagging_quality import TRAIN_PER_CLASS, evaluate

    parts = []
    for name, (positives, negatives) in concepts_by_name(csv_path).items():
        positives = [f for f in positives if f in vectors]
        negatives = [f for f in negatives if f in vectors]
        if min(len(positives), len(negatives)) <= TRAIN_PER_CLASS:
            parts.append(f"{name}: too few images for {TRAIN_PER_CLASS} + {TRAIN_PER_CLASS}")
            continue
        result = evaluate(positives, negatives, vectors, repeats)
        base = evaluate(positives, negatives, reference, repeats)
        gap = statistics.mean(result["accuracy"]) - statistics.mean(base["accuracy"])
        mean, worst = score_drift(reference, vectors, positives, negatives, repeats)
        kept = abs(gap) <= NAIVE_LIMIT and worst <= TAG_SCORE_LIMIT
        parts.append(
            f"{name}: accuracy {statistics.mean(result['accuracy']) * 100:.1f}% "
            f"({gap * 100:+.1f} points), score drift mean {mean:.4f} worst {worst:.4f} "
            f"({'kept' if kept else 'NOT kept'})"
        )
    return "; ".join(parts)


def score_drift(reference, vectors, positives, negatives, repeats: int, seed: int = 0):
    """(mean over draws, worst draw) of the mean |p(reference) - p(vectors)| over every
    image, for a tag trained on the reference vectors of 20 + 20 images."""
    from bench.tagging_quality import TRAIN_PER_CLASS
    from custom_tagging.learning import TagClassifier

    rng = np.random.default_rng(seed)
    names = sorted(set(reference) & set(vectors))
    a = np.stack([reference[n] for n in names])
    b = np.stack([vectors[n] for n in names])
    drifts = []
    for _ in range(repeats):
        train = list(rng.permutation(positives)[:TRAIN_PER_CLASS])
        train += list(rng.permutation(negatives)[:TRAIN_PER_CLASS])
        y = np.array([1] * TRAIN_PER_CLASS + [0] * TRAIN_PER_CLASS)
        model = TagClassifier().fit(np.stack([reference[f] for f in train]), y)
        drifts.append(float(np.abs(model.predict_proba(a) - model.predict_proba(b)).mean()))
    return statistics.mean(drifts), max(drifts)


# --- a process per engine -------------------------------------------------------------


def extract_all(data_dir: Path, out: Path) -> None:
    """(in a child) every collection image's vector through the configured engine."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "muses.settings")
    os.environ.setdefault("MUSES_WEIGHTS_DIR", str(ROOT / "var" / "weights"))
    import django

    django.setup()
    from muses.vision.backbones import get_backbone

    backbone = get_backbone("efficientnet_lite0")
    files = sorted((data_dir / "images").glob("*.jpg"))
    if not files:
        raise SystemExit(f"no images in {data_dir / 'images'}: pass --data")
    pixels = np.stack([backbone.pixels(path) for path in files])
    start = time.perf_counter()
    vectors = backbone.extract(pixels, batch_size=BATCH)
    seconds = time.perf_counter() - start
    np.savez(out, **{path.name: vector for path, vector in zip(files, vectors)})
    print(json.dumps({"numerics": backbone.numerics, "seconds": seconds, "images": len(files)}))


def run_extraction(spec: str, data_dir: Path, out: Path) -> dict:
    command = [sys.executable, __file__, "--extract-to", str(out), "--data", str(data_dir)]
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
    parser.add_argument("--extract-to", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.extract_to:
        extract_all(args.data, args.extract_to)
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "muses.settings")
    os.environ.setdefault("MUSES_LOG_LEVEL", "WARNING")
    specs = [s.strip() for s in args.engines.split(",") if s.strip()]
    scratch = Path(tempfile.mkdtemp(prefix="muses-engine-quality-"))
    vectors, naive = {}, {}
    for spec in specs:
        out = scratch / f"{spec.replace(':', '-')}.npz"
        info = run_extraction(spec, args.data, out)
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
            verdict = "kept" if abs(gap) <= NAIVE_LIMIT else "NOT kept"
            print(
                f"  naive test accuracy {naive[spec] * 100:.1f}% ({gap * 100:+.1f} points; "
                f"{verdict}, limit 0.5)"
            )


if __name__ == "__main__":
    main()
