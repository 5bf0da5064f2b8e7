"""How good a tag version is, drawn: its precision-recall curve (from the stored
cross-validated points or scores, else in-sample) as a PNG, cached per state of the labels."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from django.core.cache import cache
from django.db.models import Count, Max

from custom_tagging.learning import sigmoid
from custom_tagging.models import Assignment, TagVersion
from muses.vision.feature_index.handle import feature_index


@dataclass
class Curve:
    precision: np.ndarray
    recall: np.ndarray
    source: str


def version_curve(version: TagVersion) -> Curve | None:
    """The version's precision-recall curve: stored points, else its stored out-of-fold
    scores, else its scores of the tag's labelled images (in-sample, so optimistic)."""
    stored = version.metrics.get("pr_curve") or {}
    if stored.get("precision") and stored.get("recall"):
        return Curve(np.array(stored["precision"]), np.array(stored["recall"]), "cross-validated")
    oof = version.metrics.get("out_of_fold") or {}
    if oof.get("labels") and oof.get("scores"):
        return _curve(np.array(oof["labels"]), np.array(oof["scores"]), "cross-validated")
    return _labelled_curve(version)


def _labelled_curve(version: TagVersion) -> Curve | None:
    labels = dict(version.tag.assignments.values_list("image__image_id", "label"))
    found, features = feature_index(version.backbone).vectors_of(list(labels))
    coef = version.coef_array()
    if not found or features.shape[1] != len(coef):
        return None
    y = np.array([labels[i] == Assignment.Label.POSITIVE for i in found], dtype=np.int8)
    scores = sigmoid(features @ coef + version.intercept)
    source = f"in-sample: the {len(found)} labelled images, scored by this version"
    return _curve(y, scores, source)


def _curve(y: np.ndarray, scores: np.ndarray, source: str) -> Curve | None:
    from sklearn.metrics import precision_recall_curve

    if y.min() == y.max():
        return None
    precision, recall, _ = precision_recall_curve(y, scores)
    return Curve(precision, recall, source)


def pr_curve_png(version: TagVersion) -> bytes:
    """The curve as a PNG, with the cross-validated operating point of the threshold."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5, 4), dpi=100)
    FigureCanvasAgg(figure)
    axis = figure.add_subplot()
    curve = version_curve(version)
    _draw_curve(axis, version, curve)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _draw_curve(axis, version: TagVersion, curve: Curve | None) -> None:
    metrics = version.metrics
    ap = metrics.get("average_precision")
    axis.set_title(f"{version.tag.name} v{version.number}" + (f" · AP {ap:.3f}" if ap else ""))
    axis.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.05))
    axis.grid(alpha=0.3)
    if curve is None:
        axis.text(0.5, 0.5, "no labelled images with features", ha="center", va="center")
        return
    axis.step(curve.recall, curve.precision, where="post", label=curve.source)
    if "precision" in metrics and "recall" in metrics:
        axis.plot(
            [metrics["recall"]],
            [metrics["precision"]],
            "o",
            color="crimson",
            label=f"threshold {version.threshold:.4f} (cross-validated)",
        )
    axis.legend(loc="lower left", fontsize=7)


def pr_curve_cached(version: TagVersion) -> bytes:
    """Rendered once per version and state of the tag's labels."""
    stamp = version.tag.assignments.aggregate(n=Count("id"), last=Max("updated"))
    last = stamp["last"].timestamp() if stamp["last"] else 0
    key = f"muses:pr-curve:{version.pk}:{stamp['n']}:{last}"
    png = cache.get(key)
    if png is None:
        png = pr_curve_png(version)
        cache.set(key, png, 3600)
    return png
