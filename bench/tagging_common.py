"""The 20 + 20 custom-tag protocol that bench/tagging_quality.py reports and the engine
benches reuse: the two concepts of the Egyptian CC0 collection (coin vs not coin, statue
vs vessel), the random training draws with their validation and test halves, and the
scores of a tag on a half. Imports no Django: the features are passed in."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score

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
    coin_set = set(coin)
    not_coin = [r["image_file"] for r in rows if r["image_file"] not in coin_set]
    statue = [
        r["image_file"]
        for r in rows
        if r["object_type"] == "Sculpture" and STATUE_WORDS.search(r["title"])
    ]
    vessel = [r["image_file"] for r in rows if r["object_type"] in ("Vessel", "Vessels")]
    return {"coin vs not coin": (coin, not_coin), "statue vs vessel": (statue, vessel)}


@dataclass
class Draw:
    """One random 20 + 20 training draw and its validation and test halves."""

    train: list[str]
    labels: np.ndarray
    validation: tuple[list[str], list[str]]
    test: tuple[list[str], list[str]]

    def unseen(self) -> tuple[list[str], list[str]]:
        """Every image of the two classes that the draw did not train on."""
        return self.validation[0] + self.test[0], self.validation[1] + self.test[1]


def draws(positives, negatives, repeats: int, seed: int) -> list[Draw]:
    rng = np.random.default_rng(seed)
    made = []
    for _ in range(repeats):
        pos, neg = list(rng.permutation(positives)), list(rng.permutation(negatives))
        train = pos[:TRAIN_PER_CLASS] + neg[:TRAIN_PER_CLASS]
        labels = np.array([1] * TRAIN_PER_CLASS + [0] * TRAIN_PER_CLASS)
        rest_pos, rest_neg = pos[TRAIN_PER_CLASS:], neg[TRAIN_PER_CLASS:]
        half_pos, half_neg = len(rest_pos) // 2, len(rest_neg) // 2
        validation = (rest_pos[:half_pos], rest_neg[:half_neg])
        test = (rest_pos[half_pos:], rest_neg[half_neg:])
        made.append(Draw(train, labels, validation, test))
    return made


def scored(model, half: tuple[list[str], list[str]], features) -> dict:
    """Accuracy, balanced accuracy, AP, precision, recall on one half, and its baselines."""
    pos, neg = half
    X = np.stack([features[f] for f in pos + neg])
    y = np.array([1] * len(pos) + [0] * len(neg))
    predicted = model.predict(X)
    hit_pos, hit_neg = predicted[: len(pos)], ~predicted[len(pos) :]
    flagged = int(predicted.sum())
    return {
        "accuracy": float(np.mean(predicted == y)),
        "balanced": float((hit_pos.mean() + hit_neg.mean()) / 2),
        "ap": float(average_precision_score(y, model.predict_proba(X))),
        "precision": float(hit_pos.sum() / flagged) if flagged else 0.0,
        "recall": float(hit_pos.mean()),
        "trivial_accuracy": max(len(pos), len(neg)) / len(y),
        "trivial_ap": len(pos) / len(y),
    }


def unseen_accuracy(positives, negatives, features, repeats: int, seed: int = 0) -> list[float]:
    """Per draw, the accuracy of a tag with the shipped settings (what /custom/train
    fits) on every image it did not train on: the engine benches' protocol."""
    from custom_tagging.learning import TagClassifier

    accuracies = []
    for draw in draws(positives, negatives, repeats, seed):
        model = TagClassifier().fit(np.stack([features[f] for f in draw.train]), draw.labels)
        accuracies.append(scored(model, draw.unseen(), features)["accuracy"])
    return accuracies
