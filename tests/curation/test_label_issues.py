"""Confident learning on out-of-fold probabilities (curation.label_issues)."""

import numpy as np
import pytest

from curation.label_issues import (
    TooFewLabels,
    binary_probabilities,
    multiclass_probabilities,
    rank_issues,
)


def blobs(per_class=40, classes=3, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (classes, dim))
    y = np.repeat(np.arange(classes), per_class)
    return (centres[y] + rng.normal(0, 1, (len(y), dim))).astype(np.float32), y


def test_it_ranks_planted_label_flips_first():
    X, y = blobs()
    noisy = y.copy()
    flipped = np.array([3, 50, 97, 110])
    noisy[flipped] = (noisy[flipped] + 1) % 3
    ranking = rank_issues(noisy, multiclass_probabilities(X, noisy))
    quality = ranking.given_probability
    # Every flip's label is less likely than any true label, and the ranking says so.
    assert quality[flipped].max() < np.delete(quality, flipped).min()
    assert set(ranking.order[:4]) == set(flipped)
    assert 3 <= len(ranking.issues) and set(ranking.issues) <= set(flipped)
    # Flagged first, least likely label first; the rest follow in the same order.
    flagged, rest = ranking.issues, ranking.order[len(ranking.issues) :]
    assert list(quality[flagged]) == sorted(quality[flagged])
    assert list(quality[rest]) == sorted(quality[rest])
    assert list(ranking.suggested[flipped]) == list(y[flipped])


def test_clean_labels_are_not_flagged():
    X, y = blobs(seed=1)
    ranking = rank_issues(y, multiclass_probabilities(X, y))
    assert ranking.flagged.sum() == 0


def test_every_example_is_scored_by_a_model_that_never_saw_it():
    # A lone mislabelled point far inside another class: a model that saw it could fit it.
    X, y = blobs(per_class=20, classes=2)
    y[0] = 1
    probabilities = multiclass_probabilities(X, y)
    assert probabilities[0, 1] < 0.5


def test_binary_probabilities_find_a_positive_that_looks_negative():
    X, y = blobs(per_class=30, classes=2, seed=2)
    y = y.astype(np.int8)
    y[5] = 1
    ranking = rank_issues(y, binary_probabilities(X, y))
    assert ranking.issues[0] == 5
    assert ranking.suggested[5] == 0


def test_a_class_smaller_than_the_folds_is_refused():
    X, y = blobs(per_class=10, classes=2)
    y[:7] = 2  # class 0 keeps 3 examples
    with pytest.raises(TooFewLabels, match="at least 5 examples"):
        multiclass_probabilities(X, y)


def test_a_tag_with_two_negatives_is_refused():
    X, y = blobs(per_class=10, classes=2)
    y = np.r_[np.ones(18), np.zeros(2)].astype(np.int8)
    with pytest.raises(TooFewLabels, match="3 positive and 3 negative"):
        binary_probabilities(X[:20], y)
