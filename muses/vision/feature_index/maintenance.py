"""Keeping a machine's index right: rebuild from the database, check against it, compact,
status; and the queued rebuilds and compactions the handle asks for."""

import logging
import time
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from muses.vision.feature_index import rewrite, swap
from muses.vision.feature_index.errors import IndexCorrupt, IndexMissing
from muses.vision.feature_index.file import FeatureIndexFile
from muses.vision.feature_index.selectors import database_batches, database_refs, space_features
from muses.vision.feature_index.space import INDEX_DTYPE, index_directory, index_name
from muses.vision.inference import configured_family

logger = logging.getLogger(__name__)

REBUILD_TASK = "muses.vision.tasks.feature_index_rebuild_task"
COMPACT_TASK = "muses.vision.tasks.feature_index_compact_task"
# A compaction is asked for once this many rows (and a tenth of the index) are tombstones.
COMPACT_MIN_DEAD = 1_000
COMPACT_ASK_S = 600.0


def index_rebuild(*, backbone: str, progress=None, family: str | None = None) -> int:
    """Write a fresh index of one feature space (default: this process's family) from the
    database rows and swap it in; readers reopen it at their next look. Returns the number
    of rows."""
    family = family or configured_family()
    name = index_name(backbone, family)
    swap.leftovers_remove(index_directory(), name)  # of a rebuild killed earlier
    first = space_features(backbone, family).values_list("dim", flat=True).first()
    if first is None:
        swap.index_remove(index_directory(), name)  # an old file would only mislead
        return 0
    rows = swap.index_create(
        index_directory(),
        name,
        dim=first,
        dtype=INDEX_DTYPE,
        batches=database_batches(backbone, family, progress),
    )
    if rows >= settings.MUSES_INDEX_CELLS_MIN_ROWS:
        rewrite.index_partition(index_directory(), name)
    return rows


def rebuild_request(*, backbone: str, family: str | None = None) -> None:
    """Queue a rebuild (never run one inside a request); logged when no queue answers."""
    try:
        from django_q.tasks import async_task

        family = family or configured_family()
        async_task(REBUILD_TASK, backbone, family, task_name=f"index rebuild {backbone}"[:100])
    except Exception as exc:
        logger.error("could not queue a rebuild of the %s index: %s", backbone, exc)


@dataclass
class IndexReport:
    """How the index and the database disagree."""

    backbone: str
    problem: str = ""  # the index could not be opened (missing, foreign, damaged)
    index_rows: int = 0
    tombstones: int = 0
    database_rows: int = 0
    missing: int = 0  # rows of the database the index lacks
    orphans: int = 0  # live index rows whose feature row is gone
    wrong_image: int = 0  # live index rows naming another image than the database
    duplicates: int = 0  # features held by more than one live row
    torn_tail_bytes: int = 0  # what an interrupted append left past the committed rows
    generation: int = 0

    @property
    def ok(self) -> bool:
        return not (
            self.problem or self.missing or self.orphans or self.wrong_image or self.duplicates
        )


def index_check(*, backbone: str, progress=None, family: str | None = None) -> IndexReport:
    """Compare the index with the database, row by row (ids only, no vectors)."""
    family = family or configured_family()
    report = IndexReport(backbone=backbone)
    database = database_refs(backbone, family, progress)
    report.database_rows = len(database[0])
    try:
        handle = FeatureIndexFile(index_directory(), index_name(backbone, family))
    except (IndexMissing, IndexCorrupt) as exc:
        report.problem = str(exc)
        report.missing = report.database_rows
        return report
    try:
        _compare(report, handle, database)
    finally:
        handle.close()
    return report


def _compare(report: IndexReport, handle: FeatureIndexFile, database) -> None:
    db_features, db_images = database
    rows = handle.rows()
    live = rows[rows["dead"] == 0]
    report.index_rows, report.tombstones = handle.count, handle.count - len(live)
    report.torn_tail_bytes, report.generation = handle.torn_tail_bytes(), handle.generation
    unique, counts = np.unique(live["feature"], return_counts=True)
    report.duplicates = int((counts > 1).sum())
    report.missing = int((~np.isin(db_features, unique)).sum())
    in_db = np.isin(live["feature"], db_features)
    report.orphans = int((~in_db).sum())
    at = np.searchsorted(db_features, live["feature"][in_db])
    report.wrong_image = int((db_images[at] != live["image"][in_db]).sum())


def index_compact(*, backbone: str, family: str | None = None) -> tuple[int, int]:
    """Drop tombstoned rows by rewriting the index from itself (no vectors read from the
    database); a large index is regrouped into fresh cells on the way. Writers wait only
    for the last step (see rewrite.index_rewrite). (kept, dropped)"""
    kept, dropped, _ = rewrite.index_rewrite(
        index_directory(),
        index_name(backbone, family),
        regroup_from=settings.MUSES_INDEX_CELLS_MIN_ROWS,
    )
    return kept, dropped


def compaction_due(handle: FeatureIndexFile) -> bool:
    """Worth a compaction: a tenth of the rows are tombstones (at least COMPACT_MIN_DEAD),
    a library past MUSES_INDEX_CELLS_MIN_ROWS has no cells yet (it grew by uploads), or
    more rows were appended since the cells were made than they hold."""
    count, dead = handle.count, handle.dead_count()
    if dead >= max(COMPACT_MIN_DEAD, count // 10):
        return True
    if handle.cells is None:
        return count - dead >= settings.MUSES_INDEX_CELLS_MIN_ROWS
    return count - handle.cells.partitioned > handle.cells.partitioned


def compaction_request(*, backbone: str, family: str) -> None:
    """Queue a compaction, at most once every COMPACT_ASK_S seconds per process; the task
    checks again before it works, so several processes asking cost one rewrite."""
    name = index_name(backbone, family)
    now = time.monotonic()
    if now - _compaction_asked.get(name, -COMPACT_ASK_S) < COMPACT_ASK_S:
        return
    _compaction_asked[name] = now
    try:
        from django_q.tasks import async_task

        async_task(COMPACT_TASK, backbone, family, task_name=f"index compact {backbone}"[:100])
    except Exception as exc:
        logger.error("could not queue a compaction of the %s index: %s", backbone, exc)


def compaction_requests_forget() -> None:
    """Let every space ask again at once (a process that closed its handles)."""
    _compaction_asked.clear()


_compaction_asked: dict[str, float] = {}


def index_status(*, backbone: str, family: str | None = None) -> dict:
    try:
        handle = FeatureIndexFile(index_directory(), index_name(backbone, family))
    except (IndexMissing, IndexCorrupt) as exc:
        return {"backbone": backbone, "problem": str(exc)}
    try:
        return {
            "backbone": backbone,
            "path": str(handle.path),
            "rows": handle.count,
            "tombstones": handle.dead_count(),
            "dim": handle.dim,
            "dtype": handle.dtype,
            "generation": handle.generation,
        }
    finally:
        handle.close()
