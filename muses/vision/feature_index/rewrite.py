"""An index rewritten from itself while writers go on: compaction (tombstoned rows
dropped) and regrouping the rows into fresh coarse cells (:mod:`.cells`)."""

import os
from pathlib import Path

import numpy as np

from muses.vision.feature_index.cells import CellModel, cells_train
from muses.vision.feature_index.errors import IndexMissing
from muses.vision.feature_index.file import FeatureIndexFile
from muses.vision.feature_index.format import Live
from muses.vision.feature_index.swap import Written, index_write, swap_in
from muses.vision.feature_index.widen import as_float32
from muses.vision.feature_index.writing import encode_rows, rows_write, tombstones_write


def index_compact(directory: Path, name: str) -> tuple[int, int]:
    """Rewrite the index without its tombstoned rows. (kept, dropped)"""
    kept, dropped, _ = index_rewrite(directory, name, regroup_from=None)
    return kept, dropped


def index_partition(directory: Path, name: str) -> int:
    """Group the live rows into coarse cells (see :mod:`muses.vision.feature_index.cells`)
    and rewrite the index with each cell's rows contiguous, tombstones dropped. Returns the
    number of cells."""
    return index_rewrite(directory, name, regroup_from=0)[2]


def index_rewrite(
    directory: Path,
    name: str,
    *,
    regroup_from: int | None,
    chunk: int = 50_000,
    during_copy=None,
) -> tuple[int, int, int]:
    """Rewrite the index from itself, tombstoned rows dropped and, when at least
    regroup_from rows are live (None: never), its rows grouped into fresh cells, while
    writers go on: the copy (over a minute at 1M rows) is
    made from a snapshot without the writers' lock; under the lock only what changed since
    is carried over (rows appended, rows tombstoned) before the swap. A rebuild that
    replaced the file meanwhile wins: the copy is dropped. during_copy is called between
    the two steps (tests write there). (kept, dropped, cells)"""
    handle = FeatureIndexFile(directory, name)
    try:
        snapshot = handle.count
        rows, matrix = handle.rows()[:snapshot], handle.matrix()[:snapshot]
        dead_then = rows["dead"].copy()
        live = np.flatnonzero(dead_then == 0)
        regroup = regroup_from is not None and len(live) >= max(regroup_from, 1)
        model = cells_train(matrix) if regroup else None
        order, cells = _rewrite_order(matrix, live, model)

        def batches():
            for start in range(0, len(order), chunk):
                part = order[start : start + chunk]
                records = rows[part]
                yield (
                    records["feature"],
                    records["image"],
                    matrix[part],
                    cells[start : start + chunk],
                )

        written = index_write(
            Path(directory),
            name,
            dim=handle.dim,
            dtype=handle.dtype,
            batches=batches(),
            cell_model=model,
        )
        try:
            if during_copy is not None:
                during_copy()
            with handle.locked():
                if not handle.refresh():
                    raise IndexMissing(
                        f"{handle.path} was replaced by a rebuild while it was compacted."
                    )
                carried = _carry_over(written, handle, snapshot, dead_then, order, model)
                swap_in(written.tmp, written.path, written.lock_path, locked=True)
        except BaseException:
            written.discard()
            raise
        return written.count + carried, snapshot - len(live), written.cells
    finally:
        handle.close()


def _rewrite_order(matrix, live: np.ndarray, model: CellModel | None):
    """(old row numbers in their new order, the cell of each): by cell when regrouping."""
    if model is None:
        return live, np.full(len(live), -1, np.int32)
    cells = model.partition(matrix[live]) if len(live) else np.zeros(0, np.int32)
    by_cell = np.argsort(cells, kind="stable")
    order, cells = live[by_cell], cells[by_cell]
    model.offsets = np.searchsorted(cells, np.arange(model.cells + 1))
    model.partitioned = len(order)
    return order, cells


def _carry_over(
    written: Written, handle: FeatureIndexFile, snapshot, dead_then, order, model
) -> int:
    """Under the writers' lock: mark in the new file the rows tombstoned since the
    snapshot, and append the live rows appended since. Returns the rows appended."""
    now = handle.rows()
    newly_dead = np.flatnonzero((now["dead"][:snapshot] != 0) & (dead_then == 0))
    position = np.full(snapshot, -1, np.int64)
    position[order] = np.arange(len(order))
    targets = position[newly_dead]
    targets = targets[targets >= 0]
    later = snapshot + np.flatnonzero(now["dead"][snapshot:] == 0)
    records = now[later]
    vectors = handle.matrix()[later]
    cells = None
    if model is not None and len(later):
        cells = model.assign(as_float32(vectors))
    data, records = encode_rows(
        records["feature"],
        records["image"],
        vectors,
        dtype=handle.dtype,
        dim=handle.dim,
        cells=cells,
    )
    count = written.count
    with open(written.tmp, "r+b") as vec, open(written.rows, "r+b") as rows_file:
        tombstones_write(rows_file.fileno(), targets.tolist())
        rows_write(vec.fileno(), rows_file.fileno(), at=count, data=data, records=records)
        os.fsync(vec.fileno())
        os.fsync(rows_file.fileno())
        Live(count + len(later), 1, len(targets), 0, written.cells).write(vec.fileno())
        os.fsync(vec.fileno())
    return len(later)
