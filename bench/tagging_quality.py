"""Custom-tag quality: with 20 positives and 20 negatives of a visually distinct concept,
how often is the tag right on unseen images? Real EfficientNet-Lite0 features of the
Egyptian CC0 collection (../shared/data/egyptian-cc0), the same TagClassifier the
training job uses (balanced logistic regression, threshold from out-of-fold F1).

    .venv/bin/python bench/tagging_quality.py [--repeats 20] [--data ../shared/data/egyptian-cc0]

Each repeat draws 20 + 20 training images at random; every other image of the two
classes is unseen and scored. Target (issue 5): >= 92% right on unseen images.
Features are cached under var/bench/ after the first run.
"""

import argparse
import csv
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "muses.settings")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MUSES_LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402

from custom_tagging import learning  # noqa: E402
from custom_tagging.learning import TagClassifier  # noqa: E402
from muses.vision.backbones import get_backbone  # noqa: E402
from muses.vision.decode import decode_image  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "egyptian-cc0"
CACHE = ROOT / "var" / "bench" / "tagging_quality_lite0.npz"
TRAIN_PER_CLASS = 20
COIN_WORD = re.compile(r"\bcoins?\b", re.IGNORECASE)
STATUE_WORDS = re.compile(r"\b(statue|statuette|head|bust|figure|figurine)\b", re.IGNORECASE)


def concepts(rows: list[dict]) -> dict[str, tuple[list[str], list[str]]]:
    """name -> (positive image files, negative image files)."""
    coin = [
        r["image_file"]
        for r in rows
        if r["object_type"] in ("Coin", "Coins") or COIN_WORD.search(r["title"])
    ]
    not_coin = [r["image_file"] for r in rows if r["image_file"] not in set(coin)]
    statue = [
        r["image_file"]
        for r in rows
        if r["object_type"] == "Sculpture" and STATUE_WORDS.search(r["title"])
    ]
    vessel = [r["image_file"] for r in rows if r["object_type"] in ("Vessel", "Vessels")]
    return {"coin vs not coin": (coin, not_coin), "statue vs vessel": (statue, vessel)}


def features_for(files: list[str], data_dir: Path) -> dict[str, np.ndarray]:
    cached = dict(np.load(CACHE)) if CACHE.exists() else {}
    missing = [f for f in files if f not in cached]
    if missing:
        backbone = get_backbone("efficientnet_lite0")
        start = time.perf_counter()
        for i in range(0, len(missing), 32):
            chunk = missing[i : i + 32]
            pixels = np.stack(
                [backbone.preprocess(decode_image(data_dir / f).image) for f in chunk]
            )
            for name, vector in zip(chunk, backbone.extract(pixels)):
                cached[name] = vector
        print(f"extracted {len(missing)} feature vectors in {time.perf_counter() - start:.0f} s")
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        np.savez(CACHE, **cached)
    return {f: cached[f] for f in files}


def evaluate(positives, negatives, features, repeats: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    accuracy, balanced, precision, recall, fit_s = [], [], [], [], []
    for _ in range(repeats):
        pos = rng.permutation(positives)
        neg = rng.permutation(negatives)
        train = list(pos[:TRAIN_PER_CLASS]) + list(neg[:TRAIN_PER_CLASS])
        test_pos, test_neg = pos[TRAIN_PER_CLASS:], neg[TRAIN_PER_CLASS:]
        X = np.stack([features[f] for f in train])
        y = np.array([1] * TRAIN_PER_CLASS + [0] * TRAIN_PER_CLASS)
        start = time.perf_counter()
        model = TagClassifier().fit(X, y)
        fit_s.append(time.perf_counter() - start)
        hit_pos = model.predict(np.stack([features[f] for f in test_pos]))
        hit_neg = ~model.predict(np.stack([features[f] for f in test_neg]))
        accuracy.append((hit_pos.sum() + hit_neg.sum()) / (len(test_pos) + len(test_neg)))
        balanced.append((hit_pos.mean() + hit_neg.mean()) / 2)
        predicted = hit_pos.sum() + (~hit_neg).sum()
        precision.append(hit_pos.sum() / predicted if predicted else 0.0)
        recall.append(hit_pos.mean())
    return {
        "unseen": (len(positives) - TRAIN_PER_CLASS, len(negatives) - TRAIN_PER_CLASS),
        "accuracy": accuracy,
        "balanced": balanced,
        "precision": precision,
        "recall": recall,
        "fit_s": fit_s,
    }


def summary(values: list[float]) -> str:
    return (
        f"{statistics.mean(values) * 100:5.1f}% (min {min(values) * 100:5.1f}%, "
        f"sd {statistics.pstdev(values) * 100:4.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="egyptian-cc0 folder")
    parser.add_argument("--repeats", type=int, default=20, help="random 20+20 draws per concept")
    parser.add_argument("--c-values", default="", help="also compare these C, e.g. 0.01,1")
    args = parser.parse_args()
    with open(args.data / "collection.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    tasks = concepts(rows)
    files = sorted({f for pos, neg in tasks.values() for f in pos + neg})
    features = features_for(files, args.data)
    c_values = [learning.REGULARIZATION_C] + [float(c) for c in args.c_values.split(",") if c]
    for c in c_values:
        learning.REGULARIZATION_C = c
        print(
            f"\nC = {c}{' (default)' if c == c_values[0] else ''}, "
            f"{TRAIN_PER_CLASS}+{TRAIN_PER_CLASS} training images, {args.repeats} draws"
        )
        for name, (pos, neg) in tasks.items():
            result = evaluate(pos, neg, features, args.repeats)
            unseen_pos, unseen_neg = result["unseen"]
            print(f"  {name}: unseen {unseen_pos} positives + {unseen_neg} negatives")
            print(f"    accuracy          {summary(result['accuracy'])}   target >= 92%")
            print(f"    balanced accuracy {summary(result['balanced'])}")
            print(
                f"    precision {summary(result['precision'])}  recall {summary(result['recall'])}"
            )
            print(f"    fit incl. CV: median {statistics.median(result['fit_s']) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
