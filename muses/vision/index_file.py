"""The per-machine feature index: one append-only, memory-mapped file pair per feature space
that every process on the machine reads from the page cache (the vectors counted once).

Layout (little-endian):

- ``<name>.index``: a 4096-byte header, then ``count`` vectors of ``dim`` values in the
  header's dtype (float16: half the bytes of the stored float32, measured to rank and score
  the same, see BENCHMARKS.md "Scale").
- ``<name>.<uid>.rows``: a 4096-byte header, then one record per vector: feature pk, image
  pk, coarse cell (-1 when none) and a tombstone byte. ``uid`` ties it to its index file, so a
  rebuild that swaps in a new index file never pairs it with another file's rows.

The header's static part (magic, version, dim, dtype, uid, name) has a CRC; its live part is
``count`` (committed rows), ``generation`` (bumped by every append and tombstone: a reader
learns of changes with one 40-byte read), ``dead`` and ``superseded`` (set on the old file
when a rebuild replaced it). Appends and tombstones run under an exclusive ``flock`` on
``<name>.lock``; an append writes the rows past ``count`` first and moves ``count`` last, so a
crash mid-append leaves bytes past ``count`` that readers never look at and the next append
cuts off. PostgreSQL rows stay the source of truth; :mod:`muses.vision.index` keeps this in
step with them.
"""

import fcntl
import mmap
import os
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muses.vision.index_cells import CellModel, cells_train

MAGIC = b"MUSESIDX"
ROWS_MAGIC = b"MUSESROW"
FORMAT_VERSION = 1
HEADER_BYTES = 4096
DTYPES = ("float16", "float32")
# magic, version, dim, dtype, uid, name
STATIC = struct.Struct("<8sII8s16s96s")
STATIC_CRC_AT = STATIC.size
LIVE_AT = 256
# count, generation, dead, superseded, cells
LIVE = struct.Struct("<QQQQQ")
ROW_DTYPE = np.dtype(
    [
        ("feature", "<i8"),
        ("image", "<i8"),
        ("cell", "<i4"),
        ("norm", "<f4"),  # of the stored (rounded) vector: cosine search needs no pass for it
        ("dead", "u1"),
        ("pad", "V7"),
    ]
)
DEAD_AT = ROW_DTYPE.fields["dead"][1]
# Rows widened to float32 per step: the step's temporaries stay in the CPU's cache.
WIDEN_ROWS = 64
# float16 bits shifted into a float32's place, times 2**112, are the float32 of the same
# value (normal and subnormal alike); inf and NaN are never stored (_to_dtype clips).
WIDEN_SCALE = np.float32(2.0**112)
# Opening tries again this often when a rebuild or compaction swapped the file meanwhile.
OPEN_ATTEMPTS = 3
# A writer's temporary files younger than this are never taken for a killed writer's: it
# locks its file right after creating it, and writes to both files as it goes.
LEFTOVER_AGE = 60.0
# Rows appended since a sorted look-up was built are kept in a dict until there are this
# many (or a quarter of the rest), then folded into the sorted arrays.
TAIL_FOLD_MIN = 50_000


class FeatureIndexError(RuntimeError):
    """Base of the feature index file's errors."""


class IndexMissing(FeatureIndexError):
    pass


class IndexCorrupt(FeatureIndexError):
    """The file is not a MUSES index of this feature space, or it is damaged: refused."""


def index_paths(directory: Path, name: str) -> tuple[Path, Path]:
    return directory / f"{name}.index", directory / f"{name}.lock"


def rows_path(directory: Path, name: str, uid: bytes) -> Path:
    return directory / f"{name}.{uid.hex()}.rows"


def cells_path(directory: Path, name: str, uid: bytes) -> Path:
    return directory / f"{name}.{uid.hex()}.cells.npz"


def _static_header(magic: bytes, dim: int, dtype: str, uid: bytes, name: str) -> bytes:
    static = STATIC.pack(magic, FORMAT_VERSION, dim, dtype.encode(), uid, name.encode("utf-8")[:96])
    return static + struct.pack("<I", zlib.crc32(static))


def _header_bytes(magic, dim, dtype, uid, name, count=0, generation=0, dead=0, cells=0) -> bytes:
    head = _static_header(magic, dim, dtype, uid, name).ljust(LIVE_AT, b"\0")
    head += LIVE.pack(count, generation, dead, 0, cells)
    return head.ljust(HEADER_BYTES, b"\0")


def _parse_static(data: bytes, path: Path, magic: bytes) -> tuple[int, str, bytes, str]:
    if len(data) < HEADER_BYTES:
        raise IndexCorrupt(f"{path} is {len(data)} bytes, shorter than an index header.")
    fields = STATIC.unpack_from(data)
    if fields[0] != magic:
        raise IndexCorrupt(f"{path} is not a MUSES feature index (its first bytes are foreign).")
    (crc,) = struct.unpack_from("<I", data, STATIC_CRC_AT)
    if crc != zlib.crc32(data[: STATIC.size]):
        raise IndexCorrupt(f"{path} has a damaged header (checksum mismatch).")
    if fields[1] != FORMAT_VERSION:
        raise IndexCorrupt(f"{path} has format version {fields[1]}; this code reads version 1.")
    dtype = fields[3].rstrip(b"\0").decode()
    if dtype not in DTYPES:
        raise IndexCorrupt(f"{path} stores {dtype!r} vectors; expected one of {DTYPES}.")
    return fields[2], dtype, fields[4], fields[5].rstrip(b"\0").decode("utf-8")


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
            self.dim, self.dtype, self.uid, stored_name = _parse_static(
                os.pread(fd, HEADER_BYTES, 0), self.path, MAGIC
            )
            if stored_name != self.name:
                raise IndexCorrupt(
                    f"{self.path} is the index of {stored_name!r}, not {self.name!r}."
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
        self._maps: tuple | None = None
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
        if not self._live()[4]:
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
            dim, dtype, uid, _ = _parse_static(
                os.pread(fd, HEADER_BYTES, 0), self.rows_file, ROWS_MAGIC
            )
        except BaseException:
            os.close(fd)
            raise
        if uid != self.uid:
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

    def _live(self) -> tuple[int, int, int, int, int]:
        return LIVE.unpack(os.pread(self._fd, LIVE.size, LIVE_AT))

    @property
    def superseded(self) -> bool:
        return bool(self._live()[3])

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
            count, generation, _dead, superseded, _cells = self._live()
            if superseded:
                return False
            if generation != self._generation:
                self._check_sizes(count)
                self._map(count)
                self._extend_lookup(count)
                self._count, self._generation = count, generation
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
        if self._maps is not None and self._maps[0] >= count:
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
        self._maps = (capacity, vectors.reshape(capacity, self.dim), rows)

    # --- reading ----------------------------------------------------------------------

    def matrix(self) -> np.ndarray:
        """(count, dim) vectors in the stored dtype, a read-only view of the shared map."""
        return self._maps[1][: self._count] if self._maps else np.zeros((0, self.dim), self.dtype)

    def rows(self) -> np.ndarray:
        """(count,) row records: feature, image, cell, dead."""
        return self._maps[2][: self._count] if self._maps else np.zeros(0, ROW_DTYPE)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """float32 vectors of the given row numbers, in order."""
        return as_float32(self.matrix()[np.asarray(rows, dtype=np.int64)])

    def live_mask(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        return self.rows()[start:stop]["dead"] == 0

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
            lookup.extend(self._maps[2], count)

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
        count, generation, dead, _, ncells = self._live()
        self._cut_torn_tail(count)
        records = np.zeros(len(feature_pks), ROW_DTYPE)
        records["feature"], records["image"] = feature_pks, image_pks
        records["cell"] = -1 if cells is None else cells
        data = _to_dtype(vectors, self.dtype, self.dim)
        records["norm"] = _norms(data)
        os.pwrite(self._fd, data.tobytes(), HEADER_BYTES + count * self.row_bytes)
        os.pwrite(self._rows_fd, records.tobytes(), HEADER_BYTES + count * ROW_DTYPE.itemsize)
        if sync:
            os.fsync(self._fd)
            os.fsync(self._rows_fd)
        # Only now do the rows exist for readers.
        self._write_live(count + len(records), generation + 1, dead, ncells)
        self.refresh()
        return len(records)

    def _cut_torn_tail(self, count: int) -> None:
        """Bytes past the committed rows are what a crashed append left: drop them."""
        for fd, size in ((self._fd, self.row_bytes), (self._rows_fd, ROW_DTYPE.itemsize)):
            if os.fstat(fd).st_size > HEADER_BYTES + count * size:
                os.ftruncate(fd, HEADER_BYTES + count * size)

    def _write_live(self, count, generation, dead, cells, superseded: int = 0) -> None:
        os.pwrite(self._fd, LIVE.pack(count, generation, dead, superseded, cells), LIVE_AT)

    def tombstone(self, feature_pks) -> int:
        """Mark the rows of these feature pks deleted; readers stop scoring them at once,
        and the compaction job drops them from the file."""
        with self.locked():
            if not self.refresh():
                raise IndexMissing(f"{self.path} was replaced by a rebuild; open it again.")
            return self._tombstone_rows(self.rows_of_features(feature_pks))

    def _tombstone_rows(self, rows: np.ndarray) -> int:
        rows = np.unique(rows[rows >= 0])
        for row in rows.tolist():
            os.pwrite(self._rows_fd, b"\x01", HEADER_BYTES + row * ROW_DTYPE.itemsize + DEAD_AT)
        if len(rows):
            count, generation, dead, _, ncells = self._live()
            self._write_live(count, generation + 1, dead + len(rows), ncells)
            self.refresh()
        return len(rows)

    def mark_superseded(self) -> None:
        count, generation, dead, _, ncells = self._live()
        self._write_live(count, generation + 1, dead, ncells, superseded=1)

    def torn_tail_bytes(self) -> int:
        count = self._live()[0]
        extra_vec = os.fstat(self._fd).st_size - HEADER_BYTES - count * self.row_bytes
        extra_rows = os.fstat(self._rows_fd).st_size - HEADER_BYTES - count * ROW_DTYPE.itemsize
        return max(extra_vec, 0) + max(extra_rows, 0)

    def dead_count(self) -> int:
        return self._live()[2]


class RowLookup:
    """key -> newest row for one int64 column of the rows: sorted arrays for the bulk
    (one argsort when a process opens the index), a dict for rows appended since, folded
    in when it grows. A look-up of k keys costs O(k log n), whatever the library."""

    def __init__(self, column: str):
        self.column = column
        self.keys = np.zeros(0, np.int64)
        self.rows = np.zeros(0, np.int64)
        self.tail: dict[int, int] = {}
        self.seen = 0

    def extend(self, rows: np.ndarray, count: int) -> None:
        if count <= self.seen:
            return
        if len(self.tail) + count - self.seen >= max(TAIL_FOLD_MIN, len(self.keys) // 4):
            self._fold(rows, count)
        else:
            new = rows[self.seen : count][self.column].tolist()
            self.tail.update(zip(new, range(self.seen, count)))
        self.seen = count

    def _fold(self, rows: np.ndarray, count: int) -> None:
        keys = np.array(rows[:count][self.column], dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        # A key can come back (an image re-extracted; SQLite reusing the highest rowid
        # after a delete): the last row holding it is the current one.
        last = np.r_[ordered[1:] != ordered[:-1], True] if len(ordered) else ordered.astype(bool)
        self.keys, self.rows = ordered[last], order[last].astype(np.int64)
        self.tail = {}

    def find(self, keys) -> np.ndarray:
        wanted = np.asarray(keys, dtype=np.int64)
        found = np.full(len(wanted), -1, dtype=np.int64)
        if len(self.keys):
            at = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
            hit = self.keys[at] == wanted
            found[hit] = self.rows[at[hit]]
        if self.tail:
            for i, key in enumerate(wanted.tolist()):
                row = self.tail.get(key)
                if row is not None:
                    found[i] = row
        return found


def as_float32(vectors: np.ndarray) -> np.ndarray:
    """A float32 copy of stored vectors. Integer shifts and one multiply on cache-sized
    steps give bit-identical results at about 2 ns a value whatever the data; numpy's cast
    is level on dense rows but three to four times slower on rows with many zeros, as
    pooled ReLU features have (``bench/scale.py paths``)."""
    if vectors.dtype != np.float16 or not vectors.size:
        return np.asarray(vectors, dtype=np.float32)
    out = np.empty(vectors.shape, np.float32)
    flat_in, flat_out = vectors.reshape(len(vectors), -1), out.reshape(len(out), -1)
    for start in range(0, len(vectors), WIDEN_ROWS):
        bits = flat_in[start : start + WIDEN_ROWS].view(np.uint16).astype(np.uint32)
        sign = bits & 0x8000
        bits ^= sign
        bits <<= 13
        widened = bits.view(np.float32)
        widened *= WIDEN_SCALE
        bits |= sign << 16
        flat_out[start : start + WIDEN_ROWS] = widened
    return out


def _to_dtype(vectors: np.ndarray, dtype: str, dim: int) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, dim)
    if dtype == "float16":
        # Backbone features are far inside float16's range; clip rather than store inf.
        vectors = np.clip(vectors, -65504.0, 65504.0)
    return np.ascontiguousarray(vectors.astype(dtype))


def _norms(data: np.ndarray) -> np.ndarray:
    return np.linalg.norm(data.astype(np.float32), axis=1)


def index_create(
    directory: Path,
    name: str,
    *,
    dim: int,
    dtype: str,
    batches: Iterator[tuple],
    locked: bool = False,
    cell_model: CellModel | None = None,
) -> int:
    """Write a new index from (feature pks, image pks, vectors[, cells]) batches under
    temporary names and swap it in atomically; the file it replaces is marked superseded,
    so every reader reopens. Returns the number of rows written."""
    written = _index_write(
        Path(directory), name, dim=dim, dtype=dtype, batches=batches, cell_model=cell_model
    )
    try:
        _swap_in(written.tmp, written.path, written.lock_path, locked=locked)
    except BaseException:
        written.discard()
        raise
    return written.count


@dataclass
class _Written:
    """A new index file pair under temporary names, not yet swapped in."""

    directory: Path
    name: str
    uid: bytes
    count: int
    cells: int

    @property
    def tmp(self) -> Path:
        return self.directory / f".{self.name}.{self.uid.hex()}.index.tmp"

    @property
    def rows(self) -> Path:
        return rows_path(self.directory, self.name, self.uid)

    @property
    def path(self) -> Path:
        return index_paths(self.directory, self.name)[0]

    @property
    def lock_path(self) -> Path:
        return index_paths(self.directory, self.name)[1]

    def discard(self) -> None:
        if not self.tmp.exists():
            return  # swapped in already (or never written): these files are the index now
        for path in (self.tmp, self.rows, cells_path(self.directory, self.name, self.uid)):
            path.unlink(missing_ok=True)


def _index_write(
    directory: Path, name: str, *, dim: int, dtype: str, batches, cell_model
) -> _Written:
    directory.mkdir(parents=True, exist_ok=True)
    written = _Written(
        directory, name, uuid.uuid4().bytes, 0, cell_model.cells if cell_model else 0
    )
    try:
        with open(written.tmp, "wb") as vec, open(written.rows, "wb") as rows:
            # Held while writing: a writer that died (kill -9) leaves an unlocked file,
            # which the next rebuild removes (leftovers_remove).
            fcntl.flock(vec.fileno(), fcntl.LOCK_EX)
            vec.write(_header_bytes(MAGIC, dim, dtype, written.uid, name))
            rows.write(_header_bytes(ROWS_MAGIC, dim, dtype, written.uid, name))
            for feature_pks, image_pks, vectors, *cells in batches:
                records = np.zeros(len(feature_pks), ROW_DTYPE)
                records["feature"], records["image"] = feature_pks, image_pks
                records["cell"] = cells[0] if cells else -1
                data = _to_dtype(vectors, dtype, dim)
                records["norm"] = _norms(data)
                vec.write(data.tobytes())
                rows.write(records.tobytes())
                written.count += len(records)
            for handle in (vec, rows):
                handle.flush()
                os.fsync(handle.fileno())
        if cell_model is not None:
            cell_model.save(cells_path(directory, name, written.uid))
        with open(written.tmp, "r+b") as vec:
            vec.seek(LIVE_AT)
            vec.write(LIVE.pack(written.count, 1, 0, 0, written.cells))
    except BaseException:
        written.discard()
        raise
    return written


@contextmanager
def _machine_lock(lock_path: Path, *, held: bool = False):
    """The writers' flock, unless the caller already holds it (flock does not nest
    across two descriptors of one process)."""
    if held:
        yield
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _swap_in(tmp: Path | None, path: Path, lock_path: Path, *, locked: bool = False) -> None:
    """Put tmp in path's place (or just remove path when tmp is None) and mark the old file
    superseded, so that every reader reopens at its next look."""
    with _machine_lock(lock_path, held=locked):
        old_rows = _old_rows_file(path)
        if tmp is not None:
            os.replace(tmp, path)
        else:
            path.unlink(missing_ok=True)
        if old_rows is not None:
            old_fd, rows_file = old_rows
            count, generation, dead, _, cells = LIVE.unpack(os.pread(old_fd, LIVE.size, LIVE_AT))
            os.pwrite(old_fd, LIVE.pack(count, generation + 1, dead, 1, cells), LIVE_AT)
            os.close(old_fd)
            # Readers that still map it keep their pages until they reopen.
            rows_file.unlink(missing_ok=True)
            rows_file.with_suffix(".cells.npz").unlink(missing_ok=True)


def leftovers_remove(directory: Path, name: str) -> int:
    """Remove what killed writers of this index left (a temporary index file, its rows
    and cells files, rows files of no index); returns how many files were removed.
    Runs under the writers' lock, so no swap happens meanwhile; a writer still alive
    holds a lock on its temporary file and is left alone."""
    directory = Path(directory)
    path, lock_path = index_paths(directory, name)
    if not directory.is_dir():
        return 0
    with _machine_lock(lock_path):
        current = _old_rows_file(path)
        if current is not None:
            os.close(current[0])
        keep = {current[1]} if current is not None else set()
        removed = 0
        for tmp in directory.glob(f".{name}.*.index.tmp"):
            if _abandoned(tmp):
                uid = bytes.fromhex(tmp.name[len(name) + 2 : -len(".index.tmp")])
                removed += _unlink_all(
                    tmp, rows_path(directory, name, uid), cells_path(directory, name, uid)
                )
        for rows in directory.glob(f"{name}.*.rows"):
            uid_hex = rows.name[len(name) + 1 : -len(".rows")]
            writing = directory / f".{name}.{uid_hex}.index.tmp"
            if rows not in keep and not writing.exists() and _old_enough(rows):
                removed += _unlink_all(rows, directory / f"{name}.{uid_hex}.cells.npz")
        return removed


def _abandoned(tmp: Path) -> bool:
    """Old enough, and no writer holds its lock."""
    if not _old_enough(tmp):
        return False
    try:
        fd = os.open(tmp, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def _old_enough(path: Path) -> bool:
    try:
        return time.time() - path.stat().st_mtime > LEFTOVER_AGE
    except FileNotFoundError:
        return False


def _unlink_all(*paths: Path) -> int:
    removed = 0
    for path in paths:
        if path.exists():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def index_remove(directory: Path, name: str) -> None:
    path, lock_path = index_paths(Path(directory), name)
    if path.exists():
        _swap_in(None, path, lock_path)


def index_compact(directory: Path, name: str) -> tuple[int, int]:
    """Rewrite the index without its tombstoned rows. (kept, dropped)"""
    kept, dropped, _ = index_rewrite(directory, name, regroup_from=None)
    return kept, dropped


def _old_rows_file(path: Path) -> tuple[int, Path] | None:
    """(open fd, rows file) of the index file about to be replaced, when it is readable."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        _, _, uid, name = _parse_static(os.pread(fd, HEADER_BYTES, 0), path, MAGIC)
    except IndexCorrupt:
        os.close(fd)
        return None
    return fd, rows_path(path.parent, name, uid)


def index_partition(directory: Path, name: str) -> int:
    """Group the live rows into coarse cells (see :mod:`muses.vision.index_cells`) and
    rewrite the index with each cell's rows contiguous, tombstones dropped. Returns the
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

        written = _index_write(
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
                _swap_in(written.tmp, written.path, written.lock_path, locked=True)
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
    written: _Written, handle: "FeatureIndexFile", snapshot, dead_then, order, model
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
    records = np.array(now[later])
    vectors = handle.matrix()[later]
    if model is None or not len(later):
        records["cell"] = -1
    else:
        records["cell"] = model.assign(as_float32(vectors))
    count = written.count
    with open(written.tmp, "r+b") as vec, open(written.rows, "r+b") as rows_file:
        for row in targets.tolist():
            os.pwrite(
                rows_file.fileno(), b"\x01", HEADER_BYTES + row * ROW_DTYPE.itemsize + DEAD_AT
            )
        os.pwrite(
            vec.fileno(),
            np.ascontiguousarray(vectors).tobytes(),
            HEADER_BYTES + count * handle.row_bytes,
        )
        os.pwrite(rows_file.fileno(), records.tobytes(), HEADER_BYTES + count * ROW_DTYPE.itemsize)
        os.fsync(vec.fileno())
        os.fsync(rows_file.fileno())
        os.pwrite(
            vec.fileno(), LIVE.pack(count + len(later), 1, len(targets), 0, written.cells), LIVE_AT
        )
        os.fsync(vec.fileno())
    return len(later)
