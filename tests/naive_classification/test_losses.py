"""The training loss: sparse cross-entropy with label smoothing."""

import keras
import numpy as np
import pytest

from naive_classification.losses import LABEL_SMOOTHING, SmoothedSparseCrossentropy

PROBABILITIES = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], np.float32)
LABELS = np.array([0, 2], np.int32)


def test_without_smoothing_it_is_the_plain_sparse_cross_entropy():
    loss = SmoothedSparseCrossentropy(3, label_smoothing=0.0)
    plain = keras.losses.SparseCategoricalCrossentropy()
    assert float(loss(LABELS, PROBABILITIES)) == pytest.approx(
        float(plain(LABELS, PROBABILITIES)), rel=1e-5
    )


def test_smoothing_aims_at_one_minus_s_plus_s_over_k_on_the_labelled_class():
    s, k = 0.3, 3
    loss = SmoothedSparseCrossentropy(k, label_smoothing=s)
    target = np.full((2, k), s / k, np.float32)
    target[[0, 1], LABELS] += 1 - s
    expected = -(target * np.log(PROBABILITIES)).sum(axis=1).mean()
    assert float(loss(LABELS, PROBABILITIES)) == pytest.approx(expected, rel=1e-5)


def test_a_confident_right_answer_costs_more_with_smoothing_than_without():
    certain = np.array([[0.999, 0.0005, 0.0005]], np.float32)
    smoothed = SmoothedSparseCrossentropy(3)(np.array([0]), certain)
    plain = SmoothedSparseCrossentropy(3, label_smoothing=0.0)(np.array([0]), certain)
    assert float(smoothed) > float(plain)


def test_the_loss_survives_a_round_trip_through_its_config():
    loss = SmoothedSparseCrossentropy(10, label_smoothing=0.2)
    rebuilt = keras.losses.deserialize(keras.losses.serialize(loss))
    assert (rebuilt.num_classes, rebuilt.label_smoothing) == (10, 0.2)


def test_a_smoothing_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="label_smoothing"):
        SmoothedSparseCrossentropy(3, label_smoothing=1.0)


def test_the_default_smoothing_is_small():
    assert 0 < LABEL_SMOOTHING <= 0.2
