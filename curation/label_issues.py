"""Likely label errors by confident learning, on stored backbone features.

Every labelled example is scored by a model that never saw it (k-fold out-of-fold predicted
probabilities: logistic heads on the stored features), then cleanlab's confident learning
(Northcutt et al., 2021) estimates how often each given label stands for each true one and
flags the examples whose image contradicts their label most confidently. Flagged examples come
first in the ranking, least likely label first; the rest follow in the same order.

Nothing here touches the database: :mod:`curation.services.label_issue_reports` gathers
labels and features.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from custom_tagging import learning

# cleanlab and scikit-learn (pandas, SciPy: seconds of imports) are imported in the functions
# that compute a report, so the commands and pages that only read reports start at once.

FOLDS = learning.CV_FOLDS
# The tag heads' regularisation: the same strength suits the naive classes' heads.
REGULARIZATION_C = learning.REGULARIZATION_C
MAX_ITER = 200
TOLERANCE = 1e-3
SEED = 0


class TooFewLabels(ValueError):
    """Not enough labelled examples per class for k-fold out-of-fold probabilities."""


@dataclass
class IssueRanking:
    """Per example (in the input order): the given label's out-of-fold probability (its
    label quality), the suggested label and its probability, and whether confident learning
    flags it; ``order`` lists example indices, most likely wrong first."""

    labels: np.ndarray
    given_probability: np.ndarray
    suggested: np.ndarray
    suggested_probability: np.ndarray
    flagged: np.ndarray
    order: np.ndarray

    @property
    def issues(self) -> np.ndarray:
        """The flagged examples' indices, most likely wrong first."""
        return self.order[: int(self.flagged.sum())]


def rank_issues(labels: np.ndarray, pred_probs: np.ndarray) -> IssueRanking:
    """Confident learning on out-of-fold probabilities ``pred_probs`` (n, k) of labels 0..k-1
    (every class present)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(labels, dtype=np.int64)
    pred_probs = np.asarray(pred_probs, dtype=np.float64)
    # n_jobs=1: cleanlab would otherwise fork worker processes inside a web request.
    try:
        flagged = find_label_issues(labels, pred_probs, filter_by="prune_by_noise_rate", n_jobs=1)
    except ValueError as exc:  # e.g. a class the heads never predict well enough to count
        raise TooFewLabels(f"Confident learning could not run on these labels: {exc}") from None
    quality = get_label_quality_scores(labels, pred_probs, method="self_confidence")
    order = np.lexsort((np.arange(len(labels)), quality, ~flagged))
    return IssueRanking(
        labels=labels,
        given_probability=quality,
        suggested=pred_probs.argmax(axis=1),
        suggested_probability=pred_probs.max(axis=1),
        flagged=flagged,
        order=order,
    )


def binary_probabilities(
    X: np.ndarray, y: np.ndarray, *, folds: int = FOLDS, progress=None
) -> np.ndarray:
    """(n, 2) out-of-fold probabilities of negative and positive, from the folds the tag's
    training runs for its metrics."""
    y = np.asarray(y, dtype=np.int8)
    need = learning.MIN_PER_CLASS_FOR_CV
    if min(int(y.sum()), int(len(y) - y.sum())) < need:
        raise TooFewLabels(
            f"Finding label errors needs at least {need} positive and {need} negative "
            f"examples with features; there are {int(y.sum())} and {int(len(y) - y.sum())}."
        )
    scores = learning.out_of_fold_scores(X, y, folds=folds, progress=progress)
    return np.column_stack([1.0 - scores, scores])


def multiclass_probabilities(
    X: np.ndarray, labels: np.ndarray, *, folds: int = FOLDS, seed: int = SEED, progress=None
) -> np.ndarray:
    """(n, k) out-of-fold probabilities of classes 0..k-1: one class-balanced multinomial
    logistic head per fold on standardised features. Every class needs ``folds`` examples,
    so that each fold's training part holds all of them."""
    X = np.asarray(X, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    _check_classes(labels, folds)
    classes = int(labels.max()) + 1
    probabilities = np.zeros((len(labels), classes), dtype=np.float64)
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (train, test) in enumerate(splitter.split(X, labels)):
        probabilities[test] = _fold_probabilities(X[train], labels[train], X[test])
        if progress is not None:  # a job's cancel point between folds
            progress((fold + 1) / folds)
    return probabilities


def _check_classes(labels: np.ndarray, folds: int) -> None:
    counts = np.bincount(labels)
    if len(counts) < 2 or (counts < folds).any():
        small = [int(i) for i in np.flatnonzero(counts < folds)]
        raise TooFewLabels(
            f"Finding label errors needs at least {folds} examples of each of at least two "
            f"classes; classes {small} have fewer."
        )


def _fold_probabilities(X_train, y_train, X_test) -> np.ndarray:
    from sklearn import config_context
    from sklearn.linear_model import LogisticRegression

    mean = X_train.mean(axis=0)
    scale = X_train.std(axis=0)
    scale[scale < 1e-6] = 1.0  # dead ReLUs keep a zero weight instead of dividing by 0
    head = LogisticRegression(
        C=REGULARIZATION_C, class_weight="balanced", max_iter=MAX_ITER, tol=TOLERANCE
    )
    with warnings.catch_warnings(), config_context(assume_finite=True):
        # A fold that stops at MAX_ITER is still a usable, well-regularised head.
        warnings.simplefilter("ignore", category=UserWarning)
        head.fit((X_train - mean) / scale, y_train)
        return head.predict_proba((X_test - mean) / scale)
