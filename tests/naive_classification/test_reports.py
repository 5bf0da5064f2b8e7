"""Evaluation figures and the PNG plots."""

import numpy as np
import pytest

from naive_classification.reports import evaluate_predictions, plot_confusion, plot_history


def test_the_evaluation_gives_per_class_precision_and_recall():
    labels = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.1, 0.9]])
    evaluation = evaluate_predictions(labels, probabilities, ["coin", "vessel"], "test")
    assert evaluation.accuracy == 0.75
    coin, vessel = evaluation.classes
    assert (coin.precision, coin.recall, coin.support) == (1.0, 0.5, 2)
    assert vessel.precision == pytest.approx(2 / 3)
    assert evaluation.confusion == [[1, 1], [0, 2]]
    assert "accuracy" in evaluation.table().splitlines()[-1]


def test_the_history_plot_gets_a_png_suffix_and_covers_both_phases(tmp_path):
    phases = [
        {
            "phase": "transfer",
            "history": {
                "accuracy": [0.5, 0.6],
                "val_accuracy": [0.4, 0.5],
                "loss": [1.0, 0.8],
                "val_loss": [1.1, 0.9],
            },
        },
        {"phase": "fine-tuning", "history": {"accuracy": [0.7], "loss": [0.6]}},
    ]
    path = plot_history(phases, tmp_path / "plots" / "new_model")
    assert path == tmp_path / "plots" / "new_model.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_confusion_matrix_is_a_png(tmp_path):
    labels = np.array([0, 1])
    evaluation = evaluate_predictions(labels, np.eye(2), ["coin", "vessel"], "test")
    assert plot_confusion(evaluation, tmp_path / "c.png").stat().st_size > 1000
