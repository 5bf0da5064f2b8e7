"""What the engine benches share (bench/bulk_extraction.py, bench/engine_quality.py,
bench/backbone_throughput.py, bench/request_cost.py, bench/api_load.py): an engine spec as
the settings' environment, the network's raw rate and the decoding cost, and the adoption
test of muses/vision/inference.py on two sets of vectors of the same images."""

from __future__ import annotations

import csv
import os
import statistics
import threading
import time
from pathlib import Path

import numpy as np

from bench.tagging_common import TRAIN_PER_CLASS, concepts, draws, unseen_accuracy

ROOT = Path(__file__).resolve().parent.parent
# The collection beside the repository; MUSES_BENCH_DATA names it elsewhere.
DEFAULT_DATA = Path(os.getenv("MUSES_BENCH_DATA", ROOT.parent / "shared" / "data" / "egyptian-cc0"))
TAG_SCORE_LIMIT = 0.01
ACCURACY_LIMIT = 0.005  # accuracy points, as a fraction: 0.5 points
SPEC_VARIABLES = ("MUSES_INFERENCE_THREADS", "MUSES_INFERENCE_STREAMS")


def engine_env(spec: str) -> dict:
    """engine:precision[:threads[:streams]] as the settings' environment variables."""
    engine, precision, *rest = spec.split(":")
    env = {"MUSES_INFERENCE": engine, "MUSES_PRECISION": precision, "TF_CPP_MIN_LOG_LEVEL": "2"}
    for name, value in zip(SPEC_VARIABLES, rest):
        if value:
            env[name] = value
    return env


# --- time ----------------------------------------------------------------------------


def raw_rate(
    backbone, batch_size: int, seconds: float = 15, streams: int = 1
) -> tuple[float, float]:
    """(images/s, CPU ms per image) of the network alone on a fixed uint8 batch, with
    `streams` forward passes running at once (as the product runs them)."""
    size = backbone.input_size
    batch = np.random.default_rng(0).integers(0, 256, (batch_size, size, size, 3), np.uint8)
    backbone.extract(batch, batch_size=batch_size)
    done = [0] * streams
    start, cpu = time.perf_counter(), time.process_time()

    def run(stream: int) -> None:
        while time.perf_counter() - start < seconds:
            backbone.extract(batch, batch_size=batch_size)
            done[stream] += batch_size

    threads = [threading.Thread(target=run, args=(i,)) for i in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = sum(done)
    return total / (time.perf_counter() - start), (time.process_time() - cpu) * 1e3 / total


def decode_cpu_ms(backbone, sources: list) -> float:
    """CPU ms per image of decoding + preprocessing files or bytes on one thread."""
    start = time.process_time()
    for source in sources:
        backbone.pixels(source)
    return (time.process_time() - start) * 1e3 / max(len(sources), 1)


# --- quality -------------------------------------------------------------------------


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
    with open(csv_path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["image_file"] = Path(row["image_file"]).name
    return concepts(rows)


def tag_quality(reference: dict, vectors: dict, csv_path: Path, repeats: int = 20) -> str:
    """Accuracy of the 20 + 20 protocol on these vectors (the same draws as on the
    reference), and how far a tag trained on the reference vectors scores these ones from
    the reference ones (mean abs: mean over draws, worst draw)."""
    parts = []
    for name, (positives, negatives) in concepts_by_name(csv_path).items():
        positives = [f for f in positives if f in vectors and f in reference]
        negatives = [f for f in negatives if f in vectors and f in reference]
        if min(len(positives), len(negatives)) <= TRAIN_PER_CLASS:
            parts.append(f"{name}: too few images for {TRAIN_PER_CLASS} + {TRAIN_PER_CLASS}")
            continue
        accuracy = statistics.mean(unseen_accuracy(positives, negatives, vectors, repeats))
        base = statistics.mean(unseen_accuracy(positives, negatives, reference, repeats))
        gap = accuracy - base
        mean, worst = score_drift(reference, vectors, positives, negatives, repeats)
        kept = abs(gap) <= ACCURACY_LIMIT and worst <= TAG_SCORE_LIMIT
        parts.append(
            f"{name}: accuracy {accuracy * 100:.1f}% ({gap * 100:+.1f} points), "
            f"score drift mean {mean:.4f} worst {worst:.4f} ({'kept' if kept else 'NOT kept'})"
        )
    return "; ".join(parts)


def score_drift(reference, vectors, positives, negatives, repeats: int, seed: int = 0):
    """(mean over draws, worst draw) of the mean |p(reference) - p(vectors)| over every
    image, for a tag trained on the reference vectors of 20 + 20 images."""
    from custom_tagging.learning import TagClassifier

    names = sorted(set(reference) & set(vectors))
    a = np.stack([reference[n] for n in names])
    b = np.stack([vectors[n] for n in names])
    drifts = []
    for draw in draws(positives, negatives, repeats, seed):
        model = TagClassifier().fit(np.stack([reference[f] for f in draw.train]), draw.labels)
        drifts.append(float(np.abs(model.predict_proba(a) - model.predict_proba(b)).mean()))
    return statistics.mean(drifts), max(drifts)
