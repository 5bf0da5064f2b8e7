"""One process's view of an index file pair (see :mod:`.format`): shared read-only maps,
look-ups by feature and image, and appends and tombstones under the machine-wide lock."""

import fcntl
import mmap
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np

from muses.vision.feature_index.cells import CellModel
from muses.vision.feature_index.errors import IndexCorrupt, IndexMissing
from muses.vision.feature_index.format import (
    HEADER_BYTES,
    MAGIC,
    ROW_DTYPE,
    ROWS_MAGIC,
    Live,
    cells_path,
    index_paths,
    read_static,
    rows_path,
)
from muses.vision.feature_index.lookup import RowLookup
from muses.vision.feature_index.widen import as_float32
from muses.vision.feature_index.writing import encode_rows, rows_write, tombstones_write

# Opening tries again this often when a rebuild or compaction swapped the file meanwhile.
OPEN_ATTEMPTS = 3


class Maps(NamedTuple):
    """The shared maps of both files, with room for ``capacity`` rows."""

    capacity: int
    vectors: np.ndarray  # (capacity, dim), the stored dtype
    rows: np.ndarray  # (capacity,) row records


class FeatureIndexFile:
    """One process's view of an index file pair: reads through shared memory maps, writes
    (appends, tombstones) under the machine-wide lock. Thread-safe."""

    def __init__(self, directory: Path, name: str, *, dim: int | None = None):
        self.directory, self.name = Path(directory), name
        self.path, self.lock_path = index_paths(self.directory, name)
        self._thread_lock = threading.RLock()
        self._fd = self._rows_fd = self._lock_fd = None
        for attempt in range(OPEN_ATTEMPTS):
            try:
                return self._open(expected_dim=dim)
            except IndexCorrupt:
                # A swap between reading the header and opening the rows or cells file
                # (it deletes the old ones) is no damage: open the file now in place.
                if attempt == OPEN_ATTEMPTS - 1 or not self._replaced_while_opening():
                    raise
                self.close()

    # --- opening ----------------------------------------------------------------------

    def _open(self, *, expected_dim: int | None) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            raise IndexMissing(f"No feature index at {self.path}.") from None
        self._opened_inode = os.fstat(fd).st_ino
        try:
            static = read_static(fd, self.path, MAGIC)
            self.dim, self.dtype, self.uid = static.dim, static.dtype, static.uid
            if static.name != self.name:
                raise IndexCorrupt(
                    f"{self.path} is the index of {static.name!r}, not {self.name!r}."
                )
            if expected_dim is not None and self.dim != expected_dim:
                raise IndexCorrupt(
                    f"{self.path} holds {self.dim}-d vectors; "
                    f"this feature space has {expected_dim}."
                )
            self.rows_file = rows_path(self.directory, self.name, self.uid)
            rows_fd = self._open_rows()
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._rows_fd, self._pid = fd, rows_fd, os.getpid()
        self.cells = self._load_cells()
        self.itemsize = np.dtype(self.dtype).itemsize
        self.row_bytes = self.dim * self.itemsize
        self._lock_fd = None
        self._maps: Maps | None = None
        self._count = 0
        self._generation = -1
        self._reset_lookup()
        self.refresh()

    def _replaced_while_opening(self) -> bool:
        try:
            return os.stat(self.path).st_ino != self._opened_inode
        except FileNotFoundError:
            return True  # removed meanwhile: the next attempt says so

    def _load_cells(self) -> CellModel | None:
        if not self._live().cells:
            return None
        path = cells_path(self.directory, self.name, self.uid)
        try:
            return CellModel.load(path)
        except (OSError, ValueError, KeyError) as exc:
            raise IndexCorrupt(f"{self.path} names a cells file that cannot be read: {exc}")

    def _open_rows(self) -> int:
        try:
            fd = os.open(self.rows_file, os.O_RDWR)
        except FileNotFoundError:
            raise IndexCorrupt(f"{self.path} names a rows file that is missing: {self.rows_file}.")
        try:
            static = read_static(fd, self.rows_file, ROWS_MAGIC)
        except BaseException:
            os.close(fd)
            raise
        if static.uid != self.uid:
            os.close(fd)
            raise IndexCorrupt(f"{self.rows_file} belongs to another index file.")
        return fd

    def __del__(self) -> None:
        # A handle replaced by a newer file is dropped, not closed (threads may still be
        # reading its maps); its descriptors go with it. The maps hold their own.
        for fd in (getattr(self, name, None) for name in ("_fd", "_rows_fd", "_lock_fd")):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def close(self) -> None:
        with self._thread_lock:
            self._maps = None
            for fd in (self._fd, self._rows_fd, self._lock_fd):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._fd = self._rows_fd = self._lock_fd = None

    # --- the live header --------------------------------------------------------------

    def _live(self) -> Live:
        return Live.read(self._fd)

    @property
    def superseded(self) -> bool:
        return bool(self._live().superseded)

    @property
    def count(self) -> int:
        return self._count

    @property
    def generation(self) -> int:
        return self._generation

    def refresh(self) -> bool:
        """Pick up rows and tombstones other processes wrote; False when this file was
        replaced by a rebuild (the caller opens the new one)."""
        with self._thread_lock:
            live = self._live()
            if live.superseded:
                return False
            if live.generation != self._generation:
                self._check_sizes(live.count)
                self._map(live.count)
                self._extend_lookup(live.count)
                self._count, self._generation = live.count, live.generation
            return True

    def _check_sizes(self, count: int) -> None:
        have_vec = os.fstat(self._fd).st_size - HEADER_BYTES
        have_rows = os.fstat(self._rows_fd).st_size - HEADER_BYTES
        if have_vec < count * self.row_bytes or have_rows < count * ROW_DTYPE.itemsize:
            raise IndexCorrupt(
                f"{self.path} says it holds {count} rows but its files are shorter: "
                "it was truncated or copied partly."
            )

    def _map(self, count: int) -> None:
        if self._maps is not None and self._maps.capacity >= count:
            return
        # Map with room to spare, so a stream of appends remaps rarely.
        capacity = max(count, 1024, int(count * 1.25))
        vec_len = HEADER_BYTES + capacity * self.row_bytes
        rows_len = HEADER_BYTES + capacity * ROW_DTYPE.itemsize
        vec_len = min(vec_len, os.fstat(self._fd).st_size)
        rows_len = min(rows_len, os.fstat(self._rows_fd).st_size)
        capacity = min(
            (vec_len - HEADER_BYTES) // self.row_bytes,
            (rows_len - HEADER_BYTES) // ROW_DTYPE.itemsize,
        )
        vec_map = mmap.mmap(self._fd, vec_len, access=mmap.ACCESS_READ)
        rows_map = mmap.mmap(self._rows_fd, rows_len, access=mmap.ACCESS_READ)
        vectors = np.frombuffer(
            vec_map, dtype=self.dtype, count=capacity * self.dim, offset=HEADER_BYTES
        )
        rows = np.frombuffer(rows_map, dtype=ROW_DTYPE, count=capacity, offset=HEADER_BYTES)
        self._maps = Maps(capacity, vectors.reshape(capacity, self.dim), rows)

    # --- reading ----------------------------------------------------------------------

    def matrix(self) -> np.ndarray:
        """(count, dim) vectors in the stored dtype, a read-only view of the shared map."""
        if not self._maps:
            return np.zeros((0, self.dim), self.dtype)
        return self._maps.vectors[: self._count]

    def rows(self) -> np.ndarray:
        """(count,) row records: feature, image, cell, dead."""
        return self._maps.rows[: self._count] if self._maps else np.zeros(0, ROW_DTYPE)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """float32 vectors of the given row numbers, in order."""
        return as_float32(self.matrix()[np.asarray(rows, dtype=np.int64)])

    def chunks(self, size: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(first row, row records, float32 vectors) of consecutive chunks, tombstones
        included (callers mask them): the library-wide job streams through these."""
        count = self._count
        for start in range(0, count, size):
            stop = min(start + size, count)
            yield start, self.rows()[start:stop], as_float32(self.matrix()[start:stop])

    def rows_of_features(self, feature_pks) -> np.ndarray:
        """Row numbers of live rows holding these feature pks; -1 where none."""
        with self._thread_lock:
            return self._live_only(self._by_feature.find(feature_pks))

    def rows_of_images(self, image_pks) -> np.ndarray:
        """Row numbers of the newest live row of each image pk; -1 where none."""
        with self._thread_lock:
            return self._live_only(self._by_image.find(image_pks))

    def _live_only(self, found: np.ndarray) -> np.ndarray:
        if len(found) and self._count:
            dead = self.rows()["dead"][np.maximum(found, 0)] != 0
            found[dead | (found < 0)] = -1
        return found

    def _reset_lookup(self) -> None:
        self._by_feature, self._by_image = RowLookup("feature"), RowLookup("image")

    def _extend_lookup(self, count: int) -> None:
        for lookup in (self._by_feature, self._by_image):
            lookup.extend(self._maps.rows, count)

    # --- writing ----------------------------------------------------------------------

    @contextmanager
    def locked(self):
        """The machine-wide writer lock (flock on a lock file that rebuilds never replace),
        also held against the other threads of this process."""
        with self._thread_lock:
            if self._lock_fd is None or self._pid != os.getpid():
                self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def append(
        self, feature_pks, image_pks, vectors: np.ndarray, *, cells=None, sync: bool = True
    ) -> int:
        """Append rows whose feature pk is not in the index yet; the rows of an image's
        older feature are tombstoned. Returns the number appended."""
        with self.locked():
            if not self.refresh():
                raise IndexMissing(f"{self.path} was replaced by a rebuild; open it again.")
            feature_pks = np.asarray(feature_pks, dtype=np.int64)
            fresh = self.rows_of_features(feature_pks) < 0
            if not fresh.any():
                return 0
            # One live row per image: a re-extracted image's old row goes.
            self._tombstone_rows(self.rows_of_images(np.asarray(image_pks)[fresh]))
            vectors = np.asarray(vectors)[fresh]
            if cells is not None:
                cells = np.asarray(cells, dtype=np.int32)[fresh]
            elif self.cells is not None:
                cells = self.cells.assign(vectors)  # new rows join their cells at once
            return self._append_locked(
                feature_pks[fresh],
                np.asarray(image_pks, dtype=np.int64)[fresh],
                vectors,
                cells,
                sync,
            )

    def _append_locked(self, feature_pks, image_pks, vectors, cells, sync) -> int:
        live = self._live()
        self._cut_torn_tail(live.count)
        data, records = encode_rows(
            feature_pks, image_pks, vectors, dtype=self.dtype, dim=self.dim, cells=cells
        )
        rows_write(self._fd, self._rows_fd, at=live.count, data=data, records=records)
        if sync:
            os.fsync(self._fd)
            os.fsync(self._rows_fd)
        # Only now do the rows exist for readers.
        self._write_live(
            Live(live.count + len(records), live.generation + 1, live.dead, 0, live.cells)
        )
        self.refresh()
        return len(records)

    def _cut_torn_tail(self, count: int) -> None:
        """Bytes past the committed rows are what a crashed append left: drop them."""
        for fd, size in ((self._fd, self.row_bytes), (self._rows_fd, ROW_DTYPE.itemsize)):
            if os.fstat(fd).st_size > HEADER_BYTES + count * size:
                os.ftruncate(fd, HEADER_BYTES + count * size)

    def _write_live(self, live: Live) -> None:
        live.write(self._fd)

    def tombstone(self, feature_pks) -> int:
        """Mark the rows of these feature pks deleted; readers stop scoring them at once,
        and the compaction job drops them from the file."""
        with self.locked():
            if not self.refresh():
                raise IndexMissing(f"{self.path} was replaced by a rebuild; open it again.")
            return self._tombstone_rows(self.rows_of_features(feature_pks))

    def _tombstone_rows(self, rows: np.ndarray) -> int:
        rows = np.unique(rows[rows >= 0])
        tombstones_write(self._rows_fd, rows.tolist())
        if len(rows):
            live = self._live()
            self._write_live(
                Live(live.count, live.generation + 1, live.dead + len(rows), 0, live.cells)
            )
            self.refresh()
        return len(rows)

    def torn_tail_bytes(self) -> int:
        count = self._live().count
        extra_vec = os.fstat(self._fd).st_size - HEADER_BYTES - count * self.row_bytes
        extra_rows = os.fstat(self._rows_fd).st_size - HEADER_BYTES - count * ROW_DTYPE.itemsize
        return max(extra_vec, 0) + max(extra_rows, 0)

    def dead_count(self) -> int:
        return self._live().dead
