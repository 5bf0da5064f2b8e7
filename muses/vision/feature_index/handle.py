"""This process's handle on a feature space's index, kept in step with the database: one
per feature space and machine, shared by every process (:mod:`.format` holds the file
format).

The database rows stay the source of truth. Whoever stores features appends them here;
deleting a feature row tombstones it; rows another machine stored are picked up by a cheap
indexed probe (``id > highest id seen``, at most every ``MUSES_INDEX_POLL_S`` seconds) and an
id asked for that the index lacks is appended from its row on the spot. A missing or
refused index is rebuilt by ``manage.py muses_index rebuild`` (or a queued task); only a
small library (``MUSES_INDEX_INLINE_ROWS``) is built in the request that finds none.
"""

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db.models import QuerySet

from muses.vision.feature_index import maintenance
from muses.vision.feature_index.errors import IndexCorrupt, IndexMissing, IndexUnavailable
from muses.vision.feature_index.file import FeatureIndexFile
from muses.vision.feature_index.search import file_nearest
from muses.vision.feature_index.selectors import (
    BUILD_BATCH,
    ImageNames,
    database_refs,
    feature_refs,
    feature_refs_of_images,
    feature_rows,
    space_features,
)
from muses.vision.feature_index.space import INDEX_DTYPE, index_directory, index_name
from muses.vision.feature_index.swap import index_create
from muses.vision.feature_index.widen import as_float32
from muses.vision.inference import configured_family

logger = logging.getLogger(__name__)

# At most this many rows another machine stored are appended inside one request.
CATCH_UP_MAX = 5_000


@dataclass
class FeatureIndex:
    """One process's handle on a feature space's index: opens, reopens after a rebuild,
    catches up with rows stored elsewhere."""

    backbone: str
    family: str = field(default_factory=configured_family)
    _file: FeatureIndexFile | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _polled: float = 0.0
    _high_water: int = 0
    _seen: int = 0

    @property
    def name(self) -> str:
        return index_name(self.backbone, self.family)

    def file(self) -> FeatureIndexFile | None:
        """The open, refreshed file; None while this space has no vectors at all."""
        with self._lock:
            if self._file is not None and not self._file.refresh():
                self._file = None  # dropped, not closed: other threads may still read it
            if self._file is None:
                self._file = self._open()
            if self._file is not None:
                self._track_high_water()
                self._catch_up()
            return self._file

    def _open(self) -> FeatureIndexFile | None:
        try:
            return FeatureIndexFile(index_directory(), self.name)
        except IndexMissing:
            return self._bootstrap(reason=None)
        except IndexCorrupt as exc:
            logger.error("feature index refused: %s", exc)
            return self._bootstrap(reason=str(exc))

    def _bootstrap(self, *, reason: str | None) -> FeatureIndexFile | None:
        """No usable index: build it here when the library is small, else ask for a
        rebuild and refuse (a request never waits for a million rows)."""
        rows = space_features(self.backbone, self.family).count()
        if rows == 0 and reason is None:
            return None
        if rows <= settings.MUSES_INDEX_INLINE_ROWS:
            maintenance.index_rebuild(backbone=self.backbone, family=self.family)
            return FeatureIndexFile(index_directory(), self.name)
        maintenance.rebuild_request(backbone=self.backbone, family=self.family)
        problem = reason or f"There is no feature index for {self.backbone!r} on this machine."
        raise IndexUnavailable(
            f"{problem} A rebuild from the database has been queued "
            f"(or run: manage.py muses_index rebuild --backbone {self.backbone})."
        )

    def _track_high_water(self) -> None:
        count = self._file.count
        if count < self._seen:
            self._seen = 0
        if count > self._seen:
            new = self._file.rows()[self._seen : count]["feature"]
            self._high_water = max(self._high_water, int(new.max()))
            self._seen = count

    def _catch_up(self) -> None:
        """Rows stored by another machine (or by a writer that bypassed the store): one
        indexed range probe, at most every MUSES_INDEX_POLL_S seconds."""
        now = time.monotonic()
        if now - self._polled < settings.MUSES_INDEX_POLL_S:
            return
        self._polled = now
        new = list(
            space_features(self.backbone, self.family)
            .filter(id__gt=self._high_water)
            .order_by("id")
            .values_list("id", "image_id", "vector", "dtype")[:CATCH_UP_MAX]
        )
        if new:
            self._append_rows(new)

    def _append_rows(self, rows: list[tuple]) -> int:
        vectors = np.stack([np.frombuffer(bytes(v), dtype=d) for _, _, v, d in rows])
        feature_pks, image_pks = [r[0] for r in rows], [r[1] for r in rows]
        try:
            appended = self._file.append(feature_pks, image_pks, vectors)
        except IndexMissing:  # swapped for a compacted or rebuilt file: write to that one
            self._file = self._open()
            if self._file is None:
                return 0
            appended = self._file.append(feature_pks, image_pks, vectors)
        self._track_high_water()
        return appended

    # --- writing ----------------------------------------------------------------------

    def append(self, feature_pks, image_pks, vectors: np.ndarray) -> int:
        """Append just-stored rows (the process that stores features calls this). A file
        swapped in between this look and the writers' lock (a compaction, a rebuild) is
        written to once reopened, so no row is lost to the swap."""
        with self._lock:
            for attempt in range(2):
                handle = self.file() if self._file is None else self._refreshed()
                if handle is None:
                    handle = self._create_empty(dim=np.asarray(vectors).shape[-1])
                try:
                    appended = handle.append(feature_pks, image_pks, vectors)
                except IndexMissing:
                    if attempt:
                        raise
                    self._file = None
                    continue
                self._track_high_water()
                self._compact_if_due(handle)
                return appended

    def _compact_if_due(self, handle: FeatureIndexFile) -> None:
        if maintenance.compaction_due(handle):
            maintenance.compaction_request(backbone=self.backbone, family=self.family)

    def _refreshed(self) -> FeatureIndexFile | None:
        if not self._file.refresh():
            self._file = None  # dropped, not closed: other threads may still read it
            return self.file()
        return self._file

    def _create_empty(self, *, dim: int) -> FeatureIndexFile:
        with _creation_lock(self.name):
            try:
                self._file = FeatureIndexFile(index_directory(), self.name)
            except IndexMissing:
                index_create(
                    index_directory(), self.name, dim=dim, dtype=INDEX_DTYPE, batches=iter(())
                )
                self._file = FeatureIndexFile(index_directory(), self.name)
        return self._file

    def tombstone(self, feature_pks) -> int:
        with self._lock:
            for attempt in range(2):
                try:
                    handle = self._file if self._file is not None else self._open_quietly()
                    if handle is None or not handle.refresh():
                        handle = self._open_quietly()
                    if handle is None:
                        return 0
                    marked = handle.tombstone(feature_pks)
                    self._compact_if_due(handle)
                    return marked
                except IndexMissing:  # swapped in between: mark the new file
                    self._file = None
                    if attempt:
                        return 0
                except IndexCorrupt:
                    return 0  # nothing readable to mark; a rebuild starts from the database

    def _open_quietly(self) -> FeatureIndexFile | None:
        try:
            self._file = FeatureIndexFile(index_directory(), self.name)
        except (IndexMissing, IndexCorrupt):
            self._file = None
        return self._file

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
            self._file = None

    # --- reading ----------------------------------------------------------------------

    def vectors_of(self, image_ids: "list[str] | QuerySet") -> tuple[list[str], np.ndarray]:
        """float32 vectors of the given image ids (or of the images of a queryset, found
        by one join rather than lists of thousands of ids), in order; ids without a stored
        vector are left out. Costs O(ids): indexed queries and a look-up each."""
        if isinstance(image_ids, QuerySet):
            refs = feature_refs_of_images(
                backbone=self.backbone, images=image_ids, family=self.family
            )
            image_ids = list(refs)
        else:
            refs = feature_refs(backbone=self.backbone, image_ids=image_ids, family=self.family)
        found = [i for i in dict.fromkeys(image_ids) if i in refs]
        handle = self.file()
        if not found or handle is None:
            return [], np.zeros((0, handle.dim if handle else 0), np.float32)
        handle, rows = self._rows_of(handle, [refs[i] for i in found])
        kept = rows >= 0  # a row deleted meanwhile is left out, never another's vector
        return [i for i, k in zip(found, kept.tolist()) if k], handle.vectors(rows[kept])

    def vector_of_image(self, image_pk: int) -> np.ndarray | None:
        """The image's vector as the index holds it, found without a database query; None
        when the index has no live row for it."""
        handle = self.file()
        row = handle.rows_of_images([image_pk])[0] if handle is not None else -1
        return handle.vectors([row])[0] if row >= 0 else None

    def _rows_of(self, handle: FeatureIndexFile, refs: list[tuple[int, int]]):
        """(the file, its rows) of (feature pk, image pk) pairs; rows the index lacks (or
        holds for another image, after an id was reused) are appended from the database
        first, maybe to a file swapped in meanwhile (-1: no such row any more)."""
        feature_pks = np.array([f for f, _ in refs], dtype=np.int64)
        rows = handle.rows_of_features(feature_pks)
        image_pks = np.array([i for _, i in refs], dtype=np.int64)
        stale = (rows >= 0) & (handle.rows()["image"][np.maximum(rows, 0)] != image_pks)
        if stale.any():
            self.tombstone(feature_pks[stale])
        missing = (rows < 0) | stale
        if missing.any():
            self._append_rows(feature_rows(feature_pks[missing].tolist()))
            handle = self._file if self._file is not None else handle
            rows = handle.rows_of_features(feature_pks)
        return handle, rows

    def live_chunks(self, size: int) -> Iterator[tuple[list[str], np.ndarray]]:
        """(image ids, float32 vectors) of every stored image, streamed in chunks of the
        index in file order; rows whose image is gone from the database are left out.
        Vectors stay one chunk in memory; the image ids of the library are read first."""
        handle = self.file()
        if handle is None:
            return
        names = ImageNames.read()
        for _, rows, vectors in handle.chunks(size):
            keep, ids = names.of(rows["image"], live=rows["dead"] == 0)
            yield ids, vectors[keep]

    def library(self, chunk: int = 50_000) -> tuple[np.ndarray, list[str], np.ndarray]:
        """(image pks, image ids, float32 vectors) of every live row, in one matrix: the
        whole library in memory, for background jobs (near-duplicates, the map), never for
        a request path."""
        pks, names, parts = [], [], []
        handle = self.file()
        every = ImageNames.read() if handle is not None else None
        for _, rows, vectors in handle.chunks(chunk) if handle is not None else ():
            keep, ids = every.of(rows["image"], live=rows["dead"] == 0)
            pks.extend(rows["image"][keep].tolist())
            names.extend(ids)
            parts.append(vectors[keep])
        dim = handle.dim if handle is not None else 0
        matrix = np.concatenate(parts) if parts else np.zeros((0, dim), np.float32)
        return np.asarray(pks, np.int64), names, matrix

    def sample_blocks(self, max_rows: int, *, block: int = 8_192, seed=None):
        """(image pks, float32 vectors, live mask) of every row when there are at most
        max_rows, else of random blocks adding up to max_rows: a cost bounded whatever
        the library's size (blocks keep the reads sequential)."""
        handle = self.file()
        if handle is None:
            return
        count = handle.count
        starts = np.arange(0, count, block)
        if count > max_rows:
            rng = np.random.default_rng(seed)
            starts = np.sort(rng.choice(starts, size=max(1, max_rows // block), replace=False))
        rows_all, matrix = handle.rows(), handle.matrix()
        for start in starts.tolist():
            rows = rows_all[start : start + block]
            yield (
                rows["image"],
                as_float32(matrix[start : start + block]),
                rows["dead"] == 0,
            )

    def nearest(
        self, query: np.ndarray, k: int, *, exhaustive: bool = False
    ) -> list[tuple[int, float]]:
        """(image pk, cosine similarity) of the k live rows most similar to query, best
        first: exact over the rows of the probed cells of a large index, over every row of
        a small one (or when exhaustive)."""
        handle = self.file()
        if handle is None or handle.count == 0:
            return []
        probe = None if exhaustive else settings.MUSES_SIMILAR_PROBE
        return file_nearest(handle, query, k, probe=probe)

    def sync(self, progress=None) -> tuple[int, int]:
        """Make the index hold exactly the database's rows: append those it lacks,
        tombstone those the database lost (ids only are compared; vectors are read just
        for the rows appended). (appended, tombstoned)"""
        handle = self.file()
        db_features, _ = database_refs(self.backbone, self.family, progress)
        if handle is None:
            if len(db_features) == 0:
                return 0, 0
            handle = self.file()  # the rows exist now: the bootstrap has built it
            return (handle.count if handle else 0), 0
        rows = handle.rows()
        live = rows[rows["dead"] == 0]["feature"]
        missing = db_features[~np.isin(db_features, live)]
        orphans = live[~np.isin(live, db_features)]
        for start in range(0, len(missing), BUILD_BATCH):
            self._append_rows(feature_rows(missing[start : start + BUILD_BATCH].tolist()))
        gone = handle.tombstone(orphans) if len(orphans) else 0
        return len(missing), gone

    def live_count(self) -> int:
        handle = self.file()
        return 0 if handle is None else handle.count - handle.dead_count()


_indexes: dict[str, FeatureIndex] = {}
_indexes_lock = threading.Lock()
_creation_locks: dict[str, threading.Lock] = {}


def feature_index(backbone: str | None = None) -> FeatureIndex:
    """This process's handle on the index of a backbone's feature space (by default
    MUSES_BACKBONE's, the one every request reads)."""
    backbone = backbone or settings.MUSES_BACKBONE
    key = index_name(backbone)  # a process that changes its precision reads another index
    with _indexes_lock:
        if key not in _indexes:
            _indexes[key] = FeatureIndex(backbone)
        return _indexes[key]


def feature_indexes_close() -> None:
    """Forget every open handle (tests; a process that changed MUSES_INDEX_DIR)."""
    with _indexes_lock:
        for handle in _indexes.values():
            handle.close()
        _indexes.clear()
        maintenance.compaction_requests_forget()


def _creation_lock(name: str) -> threading.Lock:
    with _indexes_lock:
        return _creation_locks.setdefault(name, threading.Lock())
