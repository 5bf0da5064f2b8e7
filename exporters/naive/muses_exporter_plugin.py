"""The naive exporter: label collection images by class words in their item's title or object
type, and write them as a train / validation / test dataset.

Knobs (the seed's advice): ``max_images`` caps the images per class, against imbalance and
memory; the words and classes themselves live in the module named by the setting
``MUSES_NAIVE_DEFINITIONS`` (``naive_classification.definitions``). The exporter reads that
module by name, so this layer never imports the app built on it.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import TextIO

from django.conf import settings
from django.db.models import Q

from exporters import NothingToExport
from exporters.dataset import (
    SPLIT_RATIOS,
    DatasetEntry,
    assign_splits,
    cap_per_class,
    class_table,
    write_dataset,
)
from exporters.naive.labels import Label, NaiveLabeller
from muses.collection.media import image_file
from muses.collection.models import Image
from muses.vision.near_duplicates import duplicate_group_keys

NAME = "naive"
# At most this many images per class; None keeps them all.
MAX_IMAGES: int | None = 1000
# Changing the seed reshuffles which items land in which split.
SPLIT_SEED = "muses-naive-v1"
SKIP_NO_FILE = "image file missing"
SKIP_UNKNOWN_CURATOR_CLASS = "curator class not in definitions"
CURATOR_FIELD = "curator_class"


def class_definitions() -> ModuleType:
    """The classes, their words, priorities and subject cues (already imported: a lookup)."""
    return import_module(settings.MUSES_NAIVE_DEFINITIONS)


@dataclass
class ExportReport:
    output: Path
    entries: list[DatasetEntry]
    labelled: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    dry_run: bool = False
    prioritised: int = 0  # records naming several classes, decided by class_priority

    def counts(self, split: str) -> Counter:
        return Counter(e.class_name for e in self.entries if e.split == split)


def labeller() -> NaiveLabeller:
    return NaiveLabeller(
        class_definitions().synonyms_extended,
        class_definitions().class_priority,
        subject_cues=class_definitions().subject_cues,
    )


def candidate_images():
    """Images of collection items, and item-less images a curator has classified."""
    query = Q(item__isnull=False) | ~Q(curator_class="")
    return Image.objects.filter(query).select_related("item").order_by("id")


def label_image(image: Image, naive: NaiveLabeller) -> Label:
    """The class of one image and why: a curator's class wins over the words."""
    if image.curator_class:
        if image.curator_class not in class_definitions().classes:
            return Label(None, skipped=SKIP_UNKNOWN_CURATOR_CLASS)
        return Label(image.curator_class, word=image.curator_class, field=CURATOR_FIELD)
    return naive.label({"title": image.item.title, "object_type": image.item.object_type})


def entry_for(image: Image, class_name: str, word: str, field_name: str) -> DatasetEntry:
    item = image.item
    return DatasetEntry(
        image_id=image.image_id,
        source=image_file(image),
        group=f"item:{item.pk}" if item else f"image:{image.image_id}",
        item_id=item.pk if item else None,
        object_number=item.object_number if item else "",
        class_name=class_name,
        class_index=class_definitions().classes[class_name],
        matched_word=word,
        field=field_name,
    )


def collect_entries(naive: NaiveLabeller) -> tuple[list[DatasetEntry], Counter, int]:
    """(entries, skip reasons counted, records whose classes the priority decided)."""
    entries, skipped, prioritised = [], Counter(), 0
    for image in candidate_images().iterator(chunk_size=2000):
        label = label_image(image, naive)
        if label.class_name is None:
            skipped[label.skipped] += 1
            continue
        entry = entry_for(image, label.class_name, label.word, label.field)
        if not entry.source.is_file():
            skipped[SKIP_NO_FILE] += 1
            continue
        prioritised += len(label.candidates) > 1
        entries.append(entry)
    join_duplicate_groups(entries)
    return entries, skipped, prioritised


def join_duplicate_groups(entries: list[DatasetEntry]) -> None:
    """Give near-duplicates one split group with their items' other images: an image and its
    re-encoded copy in train and test would make test accuracy lie."""
    pks = dict(
        Image.objects.filter(image_id__in=[e.image_id for e in entries]).values_list(
            "image_id", "pk"
        )
    )
    duplicates = duplicate_group_keys(image_pks=pks.values())
    if not duplicates:
        return
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    for entry in entries:
        group = duplicates.get(pks.get(entry.image_id))
        if group:
            parent[root(entry.group)] = root(group)
    for entry in entries:
        entry.group = root(entry.group)


def dataset_info(entries: list[DatasetEntry], max_images: int | None) -> dict:
    return {
        "exporter": NAME,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "classes": class_definitions().classes,
        "max_images": max_images,
        "split_ratios": SPLIT_RATIOS,
        "split_seed": SPLIT_SEED,
        "images": len(entries),
    }


def print_report(report: ExportReport, out: TextIO) -> None:
    table = class_table(report.entries, class_definitions().class_names(), report.labelled)
    out.write(table + "\n")
    for reason, count in sorted(report.skipped.items()):
        out.write(f"skipped ({reason}): {count}\n")
    if report.prioritised:
        out.write(f"several classes, decided by class_priority: {report.prioritised}\n")
    verb = "Would write" if report.dry_run else "Writing"
    out.write(f"{verb} {len(report.entries)} images to {report.output}\n")


def do_export(
    max_images: int | None = MAX_IMAGES,
    *,
    output: str | Path | None = None,
    dry_run: bool = False,
    out: TextIO | None = None,
    progress: bool = True,
    on_progress: Callable[[float], None] | None = None,
) -> ExportReport:
    """Label, cap, split and (unless ``dry_run``) write the dataset, replacing the previous
    one atomically; prints a per-class table to ``out``. ``on_progress`` hears the share
    of files written (a job's progress point: raising there leaves the old dataset)."""
    if max_images is not None and max_images < 1:
        raise ValueError(f"max_images must be at least 1, not {max_images}")
    root = Path(output or settings.MUSES_DATASET_DIR)
    entries, skipped, prioritised = collect_entries(labeller())
    labelled = Counter(e.class_name for e in entries)
    entries = cap_per_class(entries, max_images, SPLIT_SEED)
    assign_splits(entries, SPLIT_SEED)
    report = ExportReport(root, entries, labelled, skipped, dry_run, prioritised)
    print_report(report, out or sys.stdout)
    if not entries and not dry_run:
        raise NothingToExport(
            f"No image got a class, so {root} was left as it was: import a collection first, "
            f"or check the class words in {settings.MUSES_NAIVE_DEFINITIONS}"
        )
    if not dry_run:
        info = dataset_info(entries, max_images)
        write_dataset(entries, root, info, progress=progress, on_progress=on_progress)
    return report
