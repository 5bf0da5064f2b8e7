"""The tag classifier: balanced logistic regression, out-of-fold metrics, threshold."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from custom_tagging import learning
from custom_tagging.learning import TagClassifier, choose_threshold


def separable(n_pos=30, n_neg=60, dim=20, gap=1.5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, (n_pos + n_neg, dim)).astype(np.float32)
    y = np.array([1] * n_pos + [0] * n_neg)
    X[y == 1, :3] += gap
    return X, y


def test_fit_returns_itself_with_learned_attributes():
    X, y = separable()
    model = TagClassifier()
    assert model.fit(X, y) is model
    assert model.coef_.shape == (20,) and isinstance(model.intercept_, float)
    assert model.metrics_["cross_validated"] is True and model.metrics_["folds"] == 5


def test_predicting_before_fitting_raises_a_clear_error():
    with pytest.raises(NotFittedError, match="call fit"):
        TagClassifier().predict_proba(np.zeros((1, 3)))


def test_one_class_only_is_refused():
    with pytest.raises(ValueError, match="both positive and negative"):
        TagClassifier().fit(np.zeros((4, 3)), np.ones(4))


def test_the_weights_apply_to_raw_features():
    """Standardisation is folded into coef_/intercept_: no scaler needed at prediction."""
    X, y = separable()
    X = X * 7 + 3
    model = TagClassifier().fit(X, y)
    accuracy = np.mean(model.predict(X) == y)
    assert accuracy > 0.9


def test_class_balancing_keeps_recall_on_a_rare_class():
    X, y = separable(n_pos=10, n_neg=200, gap=2.0)
    model = TagClassifier().fit(X, y)
    assert model.metrics_["recall"] >= 0.8


def test_the_threshold_maximises_out_of_fold_f1():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.45, 0.6, 0.7, 0.8])
    threshold, metrics = choose_threshold(y, scores)
    assert 0.3 < threshold <= 0.4  # halfway between 0.3 and 0.4, rounded down
    assert metrics["recall"] == 1.0 and metrics["f1"] == pytest.approx(0.8889, abs=1e-4)


def test_a_target_precision_moves_the_threshold_up():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.45, 0.6, 0.7, 0.8])
    threshold, metrics = choose_threshold(y, scores, target_precision=1.0)
    assert 0.45 < threshold <= 0.6
    assert metrics["precision"] == 1.0 and metrics["target_precision_met"] is True


def test_few_examples_skip_cross_validation_and_use_half():
    X, y = separable(n_pos=2, n_neg=2)
    model = TagClassifier().fit(X, y)
    assert model.metrics_ == {"cross_validated": False, "folds": 0, "positives": 2, "negatives": 2}
    assert model.threshold_ == 0.5


def scikit_learn_logistic():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(
        C=learning.REGULARIZATION_C,
        class_weight="balanced",
        max_iter=learning.MAX_ITER,
        tol=learning.TOLERANCE,
    )


def test_the_joint_fold_fit_matches_scikit_learn_fold_by_fold():
    from sklearn.model_selection import StratifiedKFold

    from custom_tagging.learning import _out_of_fold_scores

    X, y = separable(n_pos=40, n_neg=60, dim=30, gap=0.8, seed=3)
    y = y.astype(np.int8)
    joint = _out_of_fold_scores(X, y, 5, lambda fraction: None)
    reference = np.zeros(len(y))
    for train, test in StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(X, y):
        fold = scikit_learn_logistic().fit(X[train], y[train])
        reference[test] = fold.predict_proba(X[test])[:, 1]
    assert np.abs(joint - reference).max() < 0.02


@pytest.mark.parametrize("n_pos, n_neg", [(40, 60), (2, 3)])
def test_the_model_kept_scores_like_scikit_learn_fitted_on_every_example(n_pos, n_neg):
    """Fitted in the same run as the fold models (or alone, without cross-validation)."""
    X, y = separable(n_pos=n_pos, n_neg=n_neg, dim=30, gap=0.8, seed=4)
    X = X * 3 + 1
    model = TagClassifier().fit(X, y)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    reference = scikit_learn_logistic().fit((X - mean) / scale, y)
    expected = reference.predict_proba((X - mean) / scale)[:, 1]
    assert np.abs(model.predict_proba(X) - expected).max() < 0.02


def test_out_of_fold_scores_do_not_see_their_own_labels():
    """Pure noise must not look learnable: out-of-fold AUC stays near chance."""
    rng = np.random.default_rng(7)
    X = rng.normal(0, 1, (60, 200)).astype(np.float32)
    y = np.array([1] * 30 + [0] * 30)
    model = TagClassifier().fit(X, y)
    assert model.metrics_["roc_auc"] < 0.75
