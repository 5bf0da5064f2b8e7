"""The feature index kept in step with the database: one per feature space and machine,
shared by every process (:mod:`muses.vision.index_file` holds the file format).

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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db.models import F, Lookup, QuerySet

from muses.vision import index_file
from muses.vision.index_file import FeatureIndexFile, IndexCorrupt, IndexMissing, as_float32
from muses.vision.inference import configured_family, family_filter
from muses.vision.models import ImageFeature

logger = logging.getLogger(__name__)

INDEX_DTYPE = "float16"
# Rows read from the database per query when building or repairing.
BUILD_BATCH = 5_000
# At most this many rows another machine stored are appended inside one request.
CATCH_UP_MAX = 5_000
# Image ids per IN (...) query (SQLite allows 32,766 variables).
LOOKUP_CHUNK = 5_000
# Rows scored per step of a whole-matrix pass (float32 copy of 100 MB at 1280-d).
SEARCH_CHUNK = 20_000
REBUILD_TASK = "muses.vision.tasks.feature_index_rebuild_task"
COMPACT_TASK = "muses.vision.tasks.feature_index_compact_task"
# A compaction is asked for once this many rows (and a tenth of the index) are tombstones.
COMPACT_MIN_DEAD = 1_000
COMPACT_ASK_S = 600.0


class IndexUnavailable(RuntimeError):
    """The index cannot be read now (refused or missing on a large library); a rebuild has
    been asked for."""


# --- naming a feature space -----------------------------------------------------------


def index_name(backbone: str, family: str | None = None) -> str:
    """The name of the index holding one feature space's vectors: the backbone and a
    numerics family (by default the one this process reads, muses.vision.inference), so
    vectors that may not be mixed never share a matrix."""
    return f"{backbone}.{family or configured_family()}"


def space_features(backbone: str, family: str | None = None):
    """The database rows of one feature space (the source of truth of its index)."""
    family = family or configured_family()
    return ImageFeature.objects.filter(backbone=backbone).filter(family_filter(family))


def index_directory() -> Path:
    return Path(settings.MUSES_INDEX_DIR)


# --- the per-process handle -----------------------------------------------------------


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
            index_rebuild(backbone=self.backbone, family=self.family)
            return FeatureIndexFile(index_directory(), self.name)
        rebuild_request(backbone=self.backbone, family=self.family)
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
        if compaction_due(handle):
            compaction_request(backbone=self.backbone, family=self.family)

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
                index_file.index_create(
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
            self._append_rows(_feature_rows(feature_pks[missing].tolist()))
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
        db_features, _ = _database_refs(self.backbone, self.family, progress)
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
            self._append_rows(_feature_rows(missing[start : start + BUILD_BATCH].tolist()))
        gone = handle.tombstone(orphans) if len(orphans) else 0
        return len(missing), gone

    def live_count(self) -> int:
        handle = self.file()
        return 0 if handle is None else handle.count - handle.dead_count()


def file_nearest(
    handle: FeatureIndexFile, query: np.ndarray, k: int, *, probe: int | None
) -> list[tuple[int, float]]:
    """(image pk, cosine similarity) of the k live rows of an open index file most similar
    to query, best first: exact over the rows of the probed cells (index_cells) when the
    file has cells and probe is given, else over every row."""
    query = np.asarray(query, np.float32)
    if handle.cells is None or probe is None:
        parts = handle.chunks(SEARCH_CHUNK)
    else:
        parts = _probed_parts(handle, query, probe)
    best_pks, best_sims = [np.zeros(0, np.int64)], [np.zeros(0, np.float32)]
    query_norm = float(np.linalg.norm(query)) or 1.0
    for rows, vectors in ((rows, vectors) for *_, rows, vectors in parts):
        norms = np.where(rows["norm"] > 0, rows["norm"], 1.0) * query_norm
        sims = (vectors @ query) / norms
        sims[rows["dead"] != 0] = -np.inf
        top = _top(sims, k)
        best_pks.append(rows["image"][top])
        best_sims.append(sims[top])
    pks, sims = np.concatenate(best_pks), np.concatenate(best_sims)
    order = _top(sims, k)
    order = order[np.isfinite(sims[order])]
    return [(int(pks[i]), float(sims[i])) for i in order]


def _probed_parts(handle: FeatureIndexFile, query: np.ndarray, probe: int):
    """(rows, float32 vectors) of the cells nearest the query: contiguous slices of the
    grouped rows, plus the rows appended since whose cell is among them."""
    model = handle.cells
    cells = np.sort(model.probe(query, probe))
    starts, stops = model.offsets[cells], model.offsets[cells + 1]
    picked = np.concatenate([np.arange(a, b) for a, b in zip(starts, stops)] + [[]]).astype(
        np.int64
    )
    tail = handle.rows()["cell"][model.partitioned :]
    picked = np.concatenate([picked, model.partitioned + np.flatnonzero(np.isin(tail, cells))])
    rows, matrix = handle.rows(), handle.matrix()
    for start in range(0, len(picked), SEARCH_CHUNK):
        part = picked[start : start + SEARCH_CHUNK]
        yield rows[part], as_float32(matrix[part])


def _top(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest values, largest first, ties in position order: an
    argpartition and a sort of k, not of all."""
    if k >= len(values):
        return np.argsort(-values, kind="stable")
    part = np.argpartition(-values, k - 1)[:k]
    return part[np.lexsort((part, -values[part]))]


def feature_refs(
    *, backbone: str, image_ids: Iterable[str], family: str | None = None
) -> dict[str, tuple[int, int]]:
    """image_id -> (feature pk, image pk) of the stored vectors of one feature space."""
    from muses.collection.models import Image

    ids = list(dict.fromkeys(image_ids))
    refs: dict[str, tuple[int, int]] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        # Two look-ups by unique index rather than one join: the planner cannot pick a
        # scan of the feature table, whatever its statistics say.
        names = dict(Image.objects.filter(any_of("image_id", chunk)).values_list("pk", "image_id"))
        rows = space_features(backbone, family).filter(any_of("image_id", list(names)))
        for pk, image_pk in rows.values_list("id", "image_id"):
            refs[names[image_pk]] = (pk, image_pk)
    return refs


def feature_refs_of_images(
    *, backbone: str, images: QuerySet, family: str | None = None
) -> dict[str, tuple[int, int]]:
    """image_id -> (feature pk, image pk) of the stored vectors of a queryset's images,
    in feature order: one query, the images a subquery."""
    rows = space_features(backbone, family).filter(image__in=images.values("pk")).order_by("id")
    return {
        name: (pk, image_pk)
        for pk, image_pk, name in rows.values_list("id", "image_id", "image__image_id")
    }


class AnyOf(Lookup):
    """``column = ANY(%s::type[])`` with the values as one array parameter on PostgreSQL,
    where ``IN (%s, %s, ...)`` makes psycopg parse a query of 5,000 placeholders on every
    call (too long for its cache: ~0.15 s a query here); a plain IN elsewhere."""

    lookup_name = "any_of"
    prepare_rhs = False

    def __init__(self, lhs, rhs):
        super().__init__(lhs, rhs)
        self.values = list(rhs)  # kept apart: resolving wraps the rhs in an expression

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        values = self.values
        if connection.vendor == "postgresql" and values:
            # Typed as the column: psycopg would send small ints as int4[], and bigint =
            # ANY(int4[]) is planned without the index (a second instead of 20 ms).
            column_type = self.lhs.output_field.db_type(connection)
            return f"{lhs} = ANY(%s::{column_type}[])", [*params, values]
        return f"{lhs} IN ({', '.join(['%s'] * len(values)) or 'NULL'})", [*params, *values]


def any_of(field_name: str, values: list) -> AnyOf:
    """A filter() argument: field_name's value is one of values."""
    return AnyOf(F(field_name), list(values))


def image_ids_of(image_pks: Iterable[int]) -> dict[int, str]:
    """image pk -> image_id of the images that still exist (the database decides)."""
    from muses.collection.models import Image

    pks = list(dict.fromkeys(int(p) for p in image_pks))
    found: dict[int, str] = {}
    for start in range(0, len(pks), LOOKUP_CHUNK):
        chunk = pks[start : start + LOOKUP_CHUNK]
        found.update(Image.objects.filter(any_of("pk", chunk)).values_list("pk", "image_id"))
    return found


class ImageNames:
    """image pk -> image_id of every image, read once in pk order (keyset pages): what a
    whole-library pass resolves its rows with. At a million images, a hundred look-ups of
    10,000 scattered pks cost the database about ten times as much as one ordered read."""

    PAGE = 50_000

    def __init__(self, pks: np.ndarray, names: list[str]):
        self.pks, self.names = pks, names

    @classmethod
    def read(cls) -> "ImageNames":
        from muses.collection.models import Image

        pks, names, last = [], [], 0
        while True:
            page = list(
                Image.objects.filter(pk__gt=last)
                .order_by("pk")
                .values_list("pk", "image_id")[: cls.PAGE]
            )
            if not page:
                return cls(np.array(pks, np.int64), names)
            pks += [pk for pk, _ in page]
            names += [name for _, name in page]
            last = page[-1][0]

    def of(self, image_pks: np.ndarray, *, live: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """(positions among image_pks that are live and name an existing image, their
        image ids)."""
        if not len(self.pks):
            return np.zeros(0, np.int64), []
        image_pks = np.asarray(image_pks, np.int64)
        at = np.minimum(np.searchsorted(self.pks, image_pks), len(self.pks) - 1)
        keep = np.flatnonzero(live & (self.pks[at] == image_pks))
        return keep, [self.names[i] for i in at[keep].tolist()]


def _feature_rows(feature_pks: list[int]) -> list[tuple]:
    rows = []
    for start in range(0, len(feature_pks), LOOKUP_CHUNK):
        chunk = feature_pks[start : start + LOOKUP_CHUNK]
        qs = ImageFeature.objects.filter(any_of("id", chunk)).order_by("id")
        rows += qs.values_list("id", "image_id", "vector", "dtype")
    return rows


_indexes: dict[str, FeatureIndex] = {}
_indexes_lock = threading.Lock()
_creation_locks: dict[str, threading.Lock] = {}


def feature_index(backbone: str | None = None) -> FeatureIndex:
    """This process's handle on the index of a backbone's feature space."""
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
        _compaction_asked.clear()


def _creation_lock(name: str) -> threading.Lock:
    with _indexes_lock:
        return _creation_locks.setdefault(name, threading.Lock())


# --- hooks from the store -------------------------------------------------------------


def index_append_features(rows: Iterable[ImageFeature]) -> int:
    """Append just-saved feature rows to their spaces' indexes (never fatal: the index
    is a cache the database can rebuild, and a request must not fail for it)."""
    by_space: dict[str, list[ImageFeature]] = {}
    for row in rows:
        if row.pk is not None:
            by_space.setdefault(row.backbone, []).append(row)
    appended = 0
    for backbone, saved in by_space.items():
        vectors = np.stack([np.frombuffer(bytes(r.vector), dtype=r.dtype) for r in saved])
        try:
            appended += feature_index(backbone).append(
                [r.pk for r in saved], [r.image_id for r in saved], vectors
            )
        except (IndexUnavailable, IndexCorrupt, IndexMissing, OSError) as exc:
            logger.warning("feature index of %s not updated: %s", backbone, exc)
    return appended


def index_tombstone_feature(*, backbone: str, feature_pk: int) -> None:
    try:
        feature_index(backbone).tombstone([feature_pk])
    except OSError as exc:
        logger.warning("feature index of %s: tombstone failed: %s", backbone, exc)


# --- rebuild, check, compact ----------------------------------------------------------


def _keyset_batches(backbone: str, family, fields: tuple[str, ...], size: int, progress=None):
    """Rows of the space as value tuples (``id`` first), in id order, ``size`` at a time:
    keyset pagination, so the cost of a batch does not grow with its position."""
    last = 0
    while True:
        batch = list(
            space_features(backbone, family)
            .filter(id__gt=last)
            .order_by("id")
            .values_list("id", *fields)[:size]
        )
        if not batch:
            return
        last = batch[-1][0]
        if progress is not None:
            progress(len(batch))
        yield batch


def _database_batches(backbone: str, family: str, progress=None) -> Iterator[tuple]:
    """(feature pks, image pks, vectors) of every row, BUILD_BATCH at a time."""
    fields = ("image_id", "vector", "dtype")
    for batch in _keyset_batches(backbone, family, fields, BUILD_BATCH, progress):
        vectors = np.stack([np.frombuffer(bytes(v), dtype=d) for _, _, v, d in batch])
        yield (
            np.array([r[0] for r in batch], np.int64),
            np.array([r[1] for r in batch], np.int64),
            vectors,
        )


def index_rebuild(*, backbone: str, progress=None, family: str | None = None) -> int:
    """Write a fresh index of one feature space (default: this process's family) from the
    database rows and swap it in; readers reopen it at their next look. Returns the number
    of rows."""
    family = family or configured_family()
    name = index_name(backbone, family)
    index_file.leftovers_remove(index_directory(), name)  # of a rebuild killed earlier
    first = space_features(backbone, family).values_list("dim", flat=True).first()
    if first is None:
        index_file.index_remove(index_directory(), name)  # an old file would only mislead
        return 0
    rows = index_file.index_create(
        index_directory(),
        name,
        dim=first,
        dtype=INDEX_DTYPE,
        batches=_database_batches(backbone, family, progress),
    )
    if rows >= settings.MUSES_INDEX_CELLS_MIN_ROWS:
        index_file.index_partition(index_directory(), name)
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
    database = _database_refs(backbone, family, progress)
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


def _database_refs(backbone: str, family: str, progress=None) -> tuple[np.ndarray, np.ndarray]:
    features, images = [], []
    for batch in _keyset_batches(backbone, family, ("image_id",), BUILD_BATCH * 10, progress):
        features += [r[0] for r in batch]
        images += [r[1] for r in batch]
    return np.array(features, np.int64), np.array(images, np.int64)


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
    for the last step (see index_file.index_rewrite). (kept, dropped)"""
    kept, dropped, _ = index_file.index_rewrite(
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
