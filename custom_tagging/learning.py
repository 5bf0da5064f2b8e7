"""The tag model: class-balanced logistic regression on stored backbone features.

Features are standardised before fitting (lbfgs converges in a few iterations instead of
hundreds on raw ReLU features), and the learned weights are folded back so that the stored
``coef_``/``intercept_`` apply to raw features: one matrix product scores any number of
images and tags.
"""

import math
from collections.abc import Callable

import numpy as np

# scikit-learn and SciPy (3 s of imports) are imported where a model is fitted or measured:
# scoring, the admin and the management commands import this module and use neither.

# Inverse L2 strength on standardised features; small data (20+20 examples of 1280
# features) needs strong regularisation, and large data barely notices it.
REGULARIZATION_C = 0.1
CV_FOLDS = 5
# With fewer examples of a class than this there is no honest cross-validation.
MIN_PER_CLASS_FOR_CV = 3
DEFAULT_THRESHOLD = 0.5
MAX_ITER = 300
TOLERANCE = 1e-3
# Report fold progress (a database write) every this many L-BFGS iterations.
PROGRESS_EVERY = 5
# Scores and thresholds are reported with 4 decimals; predictions compare those values.
SCORE_DECIMALS = 4
SCORE_SCALE = 10**SCORE_DECIMALS

Progress = Callable[[float], None]


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -60.0, 60.0)))


def quantize(scores: np.ndarray) -> np.ndarray:
    """Scores as integers 0..10000 (4 decimals), the unit predictions are decided in."""
    return np.rint(np.asarray(scores, dtype=np.float64) * SCORE_SCALE).astype(np.int32)


def threshold_floor(value: float) -> float:
    """Round a threshold down to 4 decimals, so every score at or above it still is."""
    return math.floor(value * SCORE_SCALE + 1e-9) / SCORE_SCALE


class TagClassifier:
    """fit(X, y) with y in {0, 1}; learned state in attributes ending in ``_``."""

    def __init__(self, *, target_precision: float | None = None, folds: int = CV_FOLDS):
        self.target_precision = target_precision
        self.folds = folds

    def fit(self, X: np.ndarray, y: np.ndarray, *, progress: Progress | None = None):
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y, dtype=np.int8)
        _check_two_classes(y)
        if not np.isfinite(X).all():
            raise ValueError("The features contain NaN or infinite values.")
        from sklearn import config_context

        # Checked once here rather than by each of the six scikit-learn fits.
        with config_context(assume_finite=True):
            return self._fit(X, y, progress or (lambda fraction: None))

    def _fit(self, X: np.ndarray, y: np.ndarray, report: Progress):
        mean, scale = _standardisation(X)
        standardised = (X - mean) / scale
        self.positives_ = int(y.sum())
        self.negatives_ = int(len(y) - y.sum())
        folds = min(self.folds, self.positives_, self.negatives_)
        splits = _splits(standardised, y, folds) if folds >= MIN_PER_CLASS_FOR_CV else []
        # The model kept and the fold models are fitted together: one L-BFGS run, so
        # every pass over the features serves all of them (a separate fit of the full
        # model cost as many passes again).
        everything = (np.arange(len(y)), np.zeros(0, np.int64))
        coef, intercept = _joint_fit(standardised, y, [*splits, everything], report)
        self.coef_ = (coef[:, -1] / scale).astype(np.float32)
        self.intercept_ = float(intercept[-1] - float(self.coef_ @ mean))
        if splits:
            oof = _held_out_scores(standardised, splits, coef, intercept)
            report(0.95)
            self.threshold_, self.metrics_ = choose_threshold(y, oof, self.target_precision)
            self.metrics_["folds"] = folds
        else:
            self.threshold_ = DEFAULT_THRESHOLD
            self.metrics_ = {"cross_validated": False, "folds": 0}
        self.metrics_.update(positives=self.positives_, negatives=self.negatives_)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "coef_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("This TagClassifier is not fitted yet: call fit(X, y) first.")
        return sigmoid(np.asarray(X, dtype=np.float32) @ self.coef_ + self.intercept_)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return quantize(self.predict_proba(X)) >= quantize(np.array([self.threshold_]))[0]


def out_of_fold_scores(
    X: np.ndarray, y: np.ndarray, *, folds: int = CV_FOLDS, progress: Progress | None = None
) -> np.ndarray:
    """Each example's score from the fold model that never saw it: the folds (and the
    standardisation) that training runs for the tag's metrics. Needs at least
    MIN_PER_CLASS_FOR_CV examples of each label."""
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.int8)
    folds = min(folds, int(y.sum()), int(len(y) - y.sum()))
    if folds < MIN_PER_CLASS_FOR_CV:
        raise ValueError(f"Cross-validation needs {MIN_PER_CLASS_FOR_CV} examples of each label.")
    mean, scale = _standardisation(X)
    from sklearn import config_context

    with config_context(assume_finite=True):
        return _out_of_fold_scores((X - mean) / scale, y, folds, progress or (lambda f: None))


def _check_two_classes(y: np.ndarray) -> None:
    if y.sum() == 0 or y.sum() == len(y):
        raise ValueError("Training needs both positive and negative examples.")


def _standardisation(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = X.mean(axis=0, dtype=np.float64).astype(np.float32)
    scale = np.sqrt(np.mean(np.square(X - mean), axis=0))
    # Constant features (dead ReLUs) keep their zero weight rather than dividing by 0.
    scale[scale < 1e-6] = 1.0
    return mean, scale


def _out_of_fold_scores(X: np.ndarray, y: np.ndarray, folds: int, report: Progress) -> np.ndarray:
    """Each example scored by a model that never saw it."""
    splits = _splits(X, y, folds)
    coef, intercept = _joint_fit(X, y, splits, report)
    report(0.95)
    return _held_out_scores(X, splits, coef, intercept)


def _splits(X: np.ndarray, y: np.ndarray, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=0).split(X, y))


def _held_out_scores(X, splits, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    oof = np.zeros(len(X), dtype=np.float64)
    for fold, (_, test) in enumerate(splits):
        oof[test] = sigmoid(X[test] @ coef[:, fold] + intercept[fold])
    return oof


def _joint_fit(X: np.ndarray, y: np.ndarray, splits, report: Progress):
    """(coef (d, k), intercepts (k,)) of k models, model j fitted on splits[j][0].

    Each minimises exactly scikit-learn's objective for LogisticRegression(C,
    class_weight="balanced") on its training part, but all at once: one L-BFGS run over
    the stacked parameters, so every pass over X serves all k models (X @ W with W of k
    columns) instead of k separate passes. Cold-started: a fold model started from the
    full fit would carry its held-out examples into their own scores."""
    from scipy.optimize import minimize

    weights = _fold_sample_weights(y, splits)
    objective = _JointLogisticLoss(X, y, weights)
    iterations = [0]

    def after_iteration(_):
        iterations[0] += 1
        if iterations[0] % PROGRESS_EVERY == 0:
            report(0.9 * min(1.0, iterations[0] / MAX_ITER))

    result = minimize(
        objective,
        np.zeros((X.shape[1] + 1) * len(splits)),
        jac=True,
        method="L-BFGS-B",
        callback=after_iteration,
        options={"maxiter": MAX_ITER, "gtol": TOLERANCE, "maxls": 50},
    )
    return objective.unpack(result.x)


def _fold_sample_weights(y: np.ndarray, splits) -> np.ndarray:
    """(n, k): scikit-learn's balanced class weights of fold k's training part, 0 on its
    held-out part, each column normalised to sum 1 (sklearn scales its loss the same way)."""
    weights = np.zeros((len(y), len(splits)), dtype=np.float64)
    for fold, (train, _) in enumerate(splits):
        counts = np.bincount(y[train], minlength=2)
        weights[train, fold] = len(train) / (2.0 * counts[y[train]])
        weights[:, fold] /= weights[:, fold].sum()
    return weights


class _JointLogisticLoss:
    """Sum over k models of  sum_i w_ik log-loss(y_i, x_i.w_k + b_k) + ||w_k||^2 / (2 C S_k),
    S_k the raw weight sum — scikit-learn's normalised lbfgs objective, per model."""

    def __init__(self, X: np.ndarray, y: np.ndarray, weights: np.ndarray):
        self.X, self.y = X, y.astype(np.float64)[:, None]
        self.weights = weights
        self.dim, self.models = X.shape[1], weights.shape[1]
        train_sizes = (weights > 0).sum(axis=0)
        # sklearn's balanced weights sum to the training size; normalised, the L2 term
        # carries 1 / (C * n_train).
        self.l2 = 1.0 / (REGULARIZATION_C * train_sizes)

    def unpack(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        coef = theta[: self.dim * self.models].reshape(self.dim, self.models)
        return coef.astype(np.float32), theta[self.dim * self.models :]

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef, intercept = self.unpack(theta)
        logits = (self.X @ coef).astype(np.float64) + intercept
        loss = np.logaddexp(0.0, logits) - self.y * logits
        residual = self.weights * (sigmoid(logits) - self.y)
        grad_coef = (self.X.T @ residual.astype(np.float32)).astype(np.float64)
        w = coef.astype(np.float64)
        value = float(np.sum(self.weights * loss) + 0.5 * np.sum(self.l2 * np.sum(w * w, axis=0)))
        grad_coef += self.l2 * w
        return value, np.concatenate([grad_coef.ravel(), residual.sum(axis=0)])


def choose_threshold(
    y: np.ndarray, scores: np.ndarray, target_precision: float | None = None
) -> tuple[float, dict]:
    """The threshold maximising F1 of the out-of-fold scores, or reaching the target
    precision with the best recall; placed halfway to the next lower score so it does not
    sit on one example. Returns (threshold, metrics at that threshold)."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(y, scores)
    precision, recall = precision[:-1], recall[:-1]
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    rule, met = "max_f1", None
    if target_precision is not None:
        rule = "target_precision"
        reaching = np.flatnonzero(precision >= target_precision)
        met = bool(len(reaching))
        best = reaching[np.argmax(recall[reaching])] if met else int(np.argmax(precision))
    else:
        best = int(np.argmax(f1))
    threshold = threshold_floor(_halfway_below(scores, thresholds[best]))
    metrics = _metrics_at(y, scores, threshold)
    metrics.update(threshold_rule=rule, cross_validated=True)
    if met is not None:
        metrics.update(target_precision=target_precision, target_precision_met=met)
    return threshold, metrics


def _halfway_below(scores: np.ndarray, chosen: float) -> float:
    lower = scores[scores < chosen]
    return float((chosen + lower.max()) / 2) if len(lower) else float(chosen)


def _metrics_at(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score

    predicted = quantize(scores) >= quantize(np.array([threshold]))[0]
    positive = y == 1
    tp = int(np.sum(predicted & positive))
    fp = int(np.sum(predicted & ~positive))
    fn = int(np.sum(~predicted & positive))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "accuracy": round(float(np.mean(predicted == positive)), 4),
        "average_precision": round(float(average_precision_score(y, scores)), 4),
        "roc_auc": round(float(roc_auc_score(y, scores)), 4),
    }
