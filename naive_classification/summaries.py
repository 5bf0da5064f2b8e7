"""What the naive classification page summarises: each image's naive label (the exporter's
own rule, remembered per record), the exported dataset per class and split, what the next
export would label, and the trained models with their metadata and plots."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from exporters.dataset import INFO_NAME, SPLITS, DatasetMissing, read_manifest
from exporters.naive import muses_exporter_plugin as exporter
from exporters.naive.labels import Label
from naive_classification import definitions
from naive_classification.persistence import (
    MODEL_SUFFIX,
    ModelFileError,
    configured_model_value,
    read_metadata,
    resolve_model_path,
)

# (title, object type) pairs whose label is remembered; a collection repeats them a lot.
LABEL_CACHE_SIZE = 200_000
NO_RECORD = "no record and no curator class"

# --- naive labels -----------------------------------------------------------------------


class CachedLabeller:
    """The exporter's labeller, remembering the label of each (title, object type)."""

    def __init__(self, naive):
        self._naive = naive
        self._by_record = lru_cache(maxsize=LABEL_CACHE_SIZE)(self._label)

    def label(self, record):
        return self._by_record(record.get("title") or "", record.get("object_type") or "")

    def _label(self, title: str, object_type: str):
        return self._naive.label({"title": title, "object_type": object_type})


@lru_cache(maxsize=1)
def cached_labeller() -> CachedLabeller:
    return CachedLabeller(exporter.labeller())


def naive_label(image) -> Label:
    """What the next export decides for this image: the curator's class, else the class
    words of its record (``image`` needs ``curator_class`` and ``item``)."""
    if image.item is None and not image.curator_class:
        return Label(None, skipped=NO_RECORD)
    return exporter.label_image(image, cached_labeller())


@dataclass(frozen=True)
class _Record:
    title: str
    object_type: str


@dataclass(frozen=True)
class _ImageRow:
    curator_class: str
    item: _Record | None


def naive_labels(queryset):
    """(pk, Label) of every image in the queryset, from one query of plain values."""
    rows = (
        queryset.prefetch_related(None)
        .order_by()
        .values_list("pk", "curator_class", "item_id", "item__title", "item__object_type")
    )
    for pk, curator_class, item_id, title, object_type in rows.iterator(chunk_size=5000):
        record = _Record(title or "", object_type or "") if item_id else None
        yield pk, naive_label(_ImageRow(curator_class, record))


# --- the naive classification page: dataset ----------------------------------------------


@dataclass
class DatasetSummary:
    root: Path
    exists: bool
    info: dict = field(default_factory=dict)
    rows: list[list] = field(default_factory=list)  # class, per split..., total
    totals: list[int] = field(default_factory=list)


def dataset_summary(root: Path | None = None) -> DatasetSummary:
    """Per-class image counts per split, from the exported dataset's manifest."""
    root = Path(root or settings.MUSES_DATASET_DIR)
    try:
        manifest = read_manifest(root)
    except DatasetMissing:
        return DatasetSummary(root, exists=False)
    counts = Counter((row["class"], row["split"]) for row in manifest)
    names = definitions.class_names() + sorted(
        {r["class"] for r in manifest} - set(definitions.classes)
    )
    rows = [[name, *(counts[(name, s)] for s in SPLITS)] for name in names]
    rows = [row + [sum(row[1:])] for row in rows]
    totals = [sum(row[i] for row in rows) for i in range(1, len(SPLITS) + 2)]
    return DatasetSummary(root, True, _dataset_info(root), rows, totals)


def _dataset_info(root: Path) -> dict:
    try:
        return json.loads((root / INFO_NAME).read_text())
    except (OSError, ValueError):
        return {}


@dataclass
class LabellingSummary:
    """What the next export would label, counted over the collection as it is now."""

    by_words: Counter = field(default_factory=Counter)
    by_curator: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    prioritised: int = 0  # records naming several classes, decided by class_priority

    def rows(self) -> list[tuple[str, int, int]]:
        return [(n, self.by_words[n], self.by_curator[n]) for n in definitions.class_names()]

    def skipped_rows(self) -> list[tuple[str, int]]:
        # A Counter answers 0 for "items" in a template: hand it over as a list.
        return sorted(self.skipped.items())


def labelling_summary() -> LabellingSummary:
    summary = LabellingSummary()
    for _, label in naive_labels(exporter.candidate_images()):
        if label.class_name is None:
            summary.skipped[label.skipped] += 1
        elif label.field == exporter.CURATOR_FIELD:
            summary.by_curator[label.class_name] += 1
        else:
            summary.by_words[label.class_name] += 1
            summary.prioritised += len(label.candidates) > 1
    return summary


# --- the naive classification page: models ------------------------------------------------


@dataclass
class SavedModel:
    name: str
    path: Path
    size: int
    modified: datetime
    metadata: dict
    error: str = ""
    plots: list[str] = field(default_factory=list)
    configured: bool = False

    @property
    def evaluation(self) -> dict | None:
        return self.metadata.get("evaluation")

    @property
    def epochs(self) -> int:
        return sum(
            len(p.get("history", {}).get("loss", [])) for p in self.metadata.get("history", [])
        )


def configured_model() -> tuple[str, Path | None, str]:
    """(configured value, resolved file or None, problem) of the model muses_classify uses."""
    value = configured_model_value()
    if not value:
        return "", None, ""
    try:
        return value, resolve_model_path(value), ""
    except ModelFileError as exc:
        return value, None, str(exc)


def saved_models() -> list[SavedModel]:
    """The models in MUSES_MODEL_DIR, newest first, with their metadata and plots."""
    folder = Path(settings.MUSES_MODEL_DIR)
    _, configured, _ = configured_model()
    files = sorted(folder.glob(f"*{MODEL_SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
    return [_saved_model(p, configured) for p in files if not p.name.startswith(".")]


def _saved_model(path: Path, configured: Path | None) -> SavedModel:
    stat = path.stat()
    try:
        metadata, error = read_metadata(path), ""
    except ModelFileError as exc:
        metadata, error = {}, str(exc)
    return SavedModel(
        name=path.stem,
        path=path,
        size=stat.st_size,
        modified=datetime.fromtimestamp(stat.st_mtime, UTC),
        metadata=metadata,
        error=error,
        plots=model_plots(path.stem),
        configured=configured is not None and path.resolve() == configured.resolve(),
    )


PLOT_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,150}\.png\Z")


def model_plots(stem: str) -> list[str]:
    """File names in MUSES_PLOT_DIR of the model's curves and confusion matrix."""
    names = [f"{stem}.png", f"{stem}_confusion.png"]
    return [n for n in names if (Path(settings.MUSES_PLOT_DIR) / n).is_file()]
