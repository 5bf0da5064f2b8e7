"""How well a classifier does: test-split evaluation, and the PNG plots the seed asks for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from exporters.dataset import format_table


@dataclass
class ClassFigures:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class Evaluation:
    split: str
    accuracy: float
    classes: list[ClassFigures]
    confusion: list[list[int]]  # rows: true class, columns: predicted class

    def table(self) -> str:
        rows = [
            [c.name, f"{c.precision:.3f}", f"{c.recall:.3f}", f"{c.f1:.3f}", c.support]
            for c in self.classes
        ]
        total = sum(c.support for c in self.classes)
        rows.append(["accuracy", "", "", f"{self.accuracy:.3f}", total])
        return format_table(["class", "precision", "recall", "f1", "support"], rows)

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_predictions(
    labels: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str], split: str
) -> Evaluation:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    indices = list(range(len(class_names)))
    predicted = probabilities.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=indices, zero_division=0
    )
    figures = [
        ClassFigures(name, float(p), float(r), float(f), int(s))
        for name, p, r, f, s in zip(class_names, precision, recall, f1, support)
    ]
    matrix = confusion_matrix(labels, predicted, labels=indices)
    accuracy = float((predicted == labels).mean()) if len(labels) else 0.0
    return Evaluation(split, accuracy, figures, matrix.tolist())


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and workers
    import matplotlib.pyplot as plt

    return plt


def png_path(filepath: str | Path) -> Path:
    """The seed passes plot paths without a suffix ('plots/new_model'): add '.png'."""
    path = Path(filepath)
    path = path if path.suffix.lower() == ".png" else path.with_name(path.name + ".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def plot_history(phases: Sequence[dict], filepath: str | Path) -> Path:
    """Accuracy and loss, train against validation, over all phases; a dotted line marks
    where fine-tuning starts."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, metric in zip(axes, ("accuracy", "loss")):
        _plot_metric(axis, phases, metric)
    figure.tight_layout()
    path = png_path(filepath)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _plot_metric(axis, phases: Sequence[dict], metric: str) -> None:
    train, validation, boundaries = [], [], []
    for phase in phases:
        if train:
            boundaries.append((len(train) + 0.5, phase["phase"]))
        train += phase["history"].get(metric, [])
        validation += phase["history"].get(f"val_{metric}", [])
    epochs = range(1, len(train) + 1)
    axis.plot(epochs, train, "o-", label="train")
    if validation:
        axis.plot(range(1, len(validation) + 1), validation, "o-", label="validation")
    for x, name in boundaries:
        axis.axvline(x, linestyle=":", color="grey")
        axis.annotate(name, (x, 0.98), xycoords=("data", "axes fraction"), fontsize=8)
    axis.set(title=metric, xlabel="epoch")
    axis.legend()


def plot_confusion(evaluation: Evaluation, filepath: str | Path) -> Path:
    plt = _pyplot()
    names = [c.name for c in evaluation.classes]
    matrix = np.array(evaluation.confusion)
    size = 1.0 + 0.6 * len(names)
    figure, axis = plt.subplots(figsize=(size + 1.5, size))
    image = axis.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axis)
    axis.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axis.set_yticks(range(len(names)), names)
    axis.set(xlabel="predicted", ylabel="true")
    axis.set_title(f"{evaluation.split}: accuracy {evaluation.accuracy:.1%}")
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 2 else "black"
        axis.text(column, row, str(count), ha="center", va="center", color=colour, fontsize=8)
    figure.tight_layout()
    path = png_path(filepath)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
