"""A labelled image dataset on disk: ``<split>/<class>/<image>`` plus ``manifest.csv``.

Shared by exporters (which write it) and the classifier (which reads it). Everything here is
deterministic: the same collection and definitions give the same dataset, byte for byte.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from tqdm import tqdm

from muses.csv_export import SafeCsvWriter, formula_unquote

MANIFEST_NAME = "manifest.csv"
INFO_NAME = "dataset.json"
MANIFEST_COLUMNS = [
    "path",
    "image_id",
    "item_id",
    "object_number",
    "class",
    "class_index",
    "matched_word",
    "field",
    "split",
]
SPLITS = ("train", "validation", "test")
# Files written between two progress reports (a job notices a cancel at each).
PROGRESS_EVERY = 50
SPLIT_RATIOS = {"train": 0.70, "validation": 0.15, "test": 0.15}


class StoredSource(Protocol):
    """A stored file without a local path (muses.collection.media.RemoteFile)."""

    suffix: str

    def is_file(self) -> bool: ...

    def open(self) -> BinaryIO: ...


class DatasetMissing(FileNotFoundError):
    """No exported dataset where one is expected; the message says how to make one."""


@dataclass
class DatasetEntry:
    image_id: str
    # The stored image: a Path under MEDIA_ROOT, or a remote file (suffix, is_file(), open()).
    source: Path | StoredSource
    group: str  # images of one item share a split, so no item is both trained and tested on
    item_id: int | None
    object_number: str
    class_name: str
    class_index: int
    matched_word: str
    field: str
    split: str = ""

    @property
    def path(self) -> str:
        return f"{self.split}/{self.class_name}/{self.image_id}{self.source.suffix.lower()}"

    def manifest_row(self) -> dict:
        return {
            "path": self.path,
            "image_id": self.image_id,
            "item_id": "" if self.item_id is None else self.item_id,
            "object_number": self.object_number,
            "class": self.class_name,
            "class_index": self.class_index,
            "matched_word": self.matched_word,
            "field": self.field,
            "split": self.split,
        }


# --- Selection and split ----------------------------------------------------------------


def stable_rank(key: str, seed: str) -> str:
    """A pseudo-random but reproducible sort key (Python's hash() changes per process)."""
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def cap_per_class(
    entries: Iterable[DatasetEntry], max_images: int | None, seed: str
) -> list[DatasetEntry]:
    """At most ``max_images`` per class, chosen reproducibly, whole items first."""
    ordered = sorted(entries, key=lambda e: (e.class_index, stable_rank(e.group, seed), e.image_id))
    if max_images is None:
        return ordered
    taken: Counter = Counter()
    kept = []
    for entry in ordered:
        if taken[entry.class_name] < max_images:
            taken[entry.class_name] += 1
            kept.append(entry)
    return kept


def split_counts(groups: int, ratios: dict[str, float] = SPLIT_RATIOS) -> dict[str, int]:
    """How many item groups of one class go to each split; validation and test get at least
    one group each once a class has three, so every split sees every class."""
    test = round(groups * ratios["test"])
    validation = round(groups * ratios["validation"])
    if groups >= 3:
        test, validation = max(1, test), max(1, validation)
    elif groups == 2:
        test, validation = 0, 1
    else:
        test, validation = 0, 0
    return {"train": groups - test - validation, "validation": validation, "test": test}


def assign_splits(
    entries: Sequence[DatasetEntry], seed: str, ratios: dict[str, float] = SPLIT_RATIOS
) -> None:
    """Stratified by class, grouped (by item, or by near-duplicate group), reproducible: sets
    ``entry.split``. A group whose images have several classes takes the split its first
    class gave it, so no group ever straddles two splits."""
    by_class: dict[str, dict[str, list[DatasetEntry]]] = defaultdict(lambda: defaultdict(list))
    for entry in entries:
        by_class[entry.class_name][entry.group].append(entry)
    decided: dict[str, str] = {}
    for groups in by_class.values():  # classes in the entries' order: reproducible
        order = sorted(groups, key=lambda g: stable_rank(g, seed))
        counts = split_counts(len(order), ratios)
        names = ["test"] * counts["test"] + ["validation"] * counts["validation"]
        names += ["train"] * counts["train"]
        for group, split in zip(order, names):
            split = decided.setdefault(group, split)
            for entry in groups[group]:
                entry.split = split


# --- Writing ------------------------------------------------------------------------------


def place_file(source: Path | StoredSource, target: Path) -> None:
    """A local file is linked (or copied); a remote one is downloaded."""
    if isinstance(source, os.PathLike):
        link_or_copy(source, target)
        return
    with source.open() as handle, open(target, "wb") as out:
        shutil.copyfileobj(handle, out)


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link costs no space; fall back to a copy across file systems."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def write_dataset(
    entries: Sequence[DatasetEntry],
    root: Path,
    info: dict,
    *,
    progress: bool = True,
    on_progress: Callable[[float], None] | None = None,
) -> Path:
    """Write the dataset next to ``root`` and swap it in, so readers see the old dataset or
    the new one, never half of one."""
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-new-", dir=root.parent))
    try:
        _write_files(entries, staging, progress, on_progress)
        _write_manifest(entries, staging / MANIFEST_NAME)
        (staging / INFO_NAME).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        swap_in(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return root


def _write_files(
    entries: Sequence[DatasetEntry],
    staging: Path,
    progress: bool,
    on_progress: Callable[[float], None] | None = None,
) -> None:
    bar = tqdm(entries, desc="Writing dataset", unit="image", disable=not progress)
    for done, entry in enumerate(bar):
        if on_progress is not None and done % PROGRESS_EVERY == 0:
            on_progress(done / len(entries))
        target = staging / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        place_file(entry.source, target)


def _write_manifest(entries: Sequence[DatasetEntry], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = SafeCsvWriter(handle)
        writer.writerow(MANIFEST_COLUMNS)
        for entry in sorted(entries, key=lambda e: e.path):
            row = entry.manifest_row()
            writer.writerow(row.get(column, "") for column in MANIFEST_COLUMNS)


def swap_in(staging: Path, root: Path) -> None:
    """Replace ``root`` by ``staging`` with two renames on one file system; the old dataset
    is put back if the second rename fails."""
    if not root.exists():
        os.replace(staging, root)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{root.name}-old-", dir=root.parent))
    os.replace(root, retired / root.name)
    try:
        os.replace(staging, root)
    except BaseException:
        os.replace(retired / root.name, root)
        raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)


# --- Reading ------------------------------------------------------------------------------


def manifest_path(root: Path) -> Path:
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        raise DatasetMissing(
            f"No dataset in {root} (no {MANIFEST_NAME}): run "
            "`./manage.py muses_export_classification_data --exporter naive` first."
        )
    return path


def read_manifest(root: Path) -> list[dict]:
    with open(manifest_path(root), newline="", encoding="utf-8") as handle:
        return [
            {key: formula_unquote(value) for key, value in row.items()}
            for row in csv.DictReader(handle)
        ]


def manifest_digest(root: Path) -> str:
    return hashlib.sha256(manifest_path(root).read_bytes()).hexdigest()


# --- Reporting ----------------------------------------------------------------------------


def class_table(
    entries: Sequence[DatasetEntry], class_names: Sequence[str], matched: Counter
) -> str:
    """Per class: images labelled, images kept after the cap, and the split counts."""
    counts = Counter((e.class_name, e.split) for e in entries)
    kept = Counter(e.class_name for e in entries)
    header = ["class", "labelled", "kept", *SPLITS]
    rows = [
        [name, matched[name], kept[name], *(counts[(name, s)] for s in SPLITS)]
        for name in class_names
    ]
    rows.append(["total", sum(matched.values()), len(entries), *_split_totals(entries)])
    return format_table(header, rows)


def _split_totals(entries: Sequence[DatasetEntry]) -> list[int]:
    totals = Counter(e.split for e in entries)
    return [totals[s] for s in SPLITS]


def format_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A plain text table: first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row):
        first = row[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(row[1:], widths[1:]))])

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])
