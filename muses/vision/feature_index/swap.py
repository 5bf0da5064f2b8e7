"""Whole index files written aside and swapped in: a new index (create), none (remove),
and what killed writers left behind. The file a swap replaces is marked superseded, so
every reader reopens at its next look."""

import fcntl
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from muses.vision.feature_index.cells import CellModel
from muses.vision.feature_index.errors import IndexCorrupt
from muses.vision.feature_index.format import (
    MAGIC,
    ROWS_MAGIC,
    Live,
    Static,
    cells_path,
    header_bytes,
    index_paths,
    read_static,
    rows_path,
)
from muses.vision.feature_index.writing import encode_rows, rows_write

# A writer's temporary files younger than this are never taken for a killed writer's: it
# locks its file right after creating it, and writes to both files as it goes.
LEFTOVER_AGE = 60.0


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
    written = index_write(
        Path(directory), name, dim=dim, dtype=dtype, batches=batches, cell_model=cell_model
    )
    try:
        swap_in(written.tmp, written.path, written.lock_path, locked=locked)
    except BaseException:
        written.discard()
        raise
    return written.count


@dataclass
class Written:
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


def index_write(
    directory: Path, name: str, *, dim: int, dtype: str, batches, cell_model
) -> Written:
    """Write a new file pair under temporary names from (feature pks, image pks,
    vectors[, cells]) batches; the caller swaps it in."""
    directory.mkdir(parents=True, exist_ok=True)
    written = Written(directory, name, uuid.uuid4().bytes, 0, cell_model.cells if cell_model else 0)
    static = Static(dim, dtype, written.uid, name)
    try:
        with open(written.tmp, "wb") as vec, open(written.rows, "wb") as rows:
            # Held while writing: a writer that died (kill -9) leaves an unlocked file,
            # which the next rebuild removes (leftovers_remove).
            fcntl.flock(vec.fileno(), fcntl.LOCK_EX)
            vec.write(header_bytes(MAGIC, static))
            rows.write(header_bytes(ROWS_MAGIC, static))
            vec.flush()
            rows.flush()
            for feature_pks, image_pks, vectors, *cells in batches:
                data, records = encode_rows(
                    feature_pks,
                    image_pks,
                    vectors,
                    dtype=dtype,
                    dim=dim,
                    cells=cells[0] if cells else None,
                )
                at = written.count
                rows_write(vec.fileno(), rows.fileno(), at=at, data=data, records=records)
                written.count += len(records)
            for handle in (vec, rows):
                os.fsync(handle.fileno())
        if cell_model is not None:
            cell_model.save(cells_path(directory, name, written.uid))
        with open(written.tmp, "r+b") as vec:
            Live(written.count, 1, 0, 0, written.cells).write(vec.fileno())
    except BaseException:
        written.discard()
        raise
    return written


@contextmanager
def machine_lock(lock_path: Path, *, held: bool = False):
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


def swap_in(tmp: Path | None, path: Path, lock_path: Path, *, locked: bool = False) -> None:
    """Put tmp in path's place (or just remove path when tmp is None) and mark the old file
    superseded, so that every reader reopens at its next look."""
    with machine_lock(lock_path, held=locked):
        old_rows = _old_rows_file(path)
        if tmp is not None:
            os.replace(tmp, path)
        else:
            path.unlink(missing_ok=True)
        if old_rows is not None:
            old_fd, rows_file = old_rows
            old = Live.read(old_fd)
            old._replace(generation=old.generation + 1, superseded=1).write(old_fd)
            os.close(old_fd)
            # Readers that still map it keep their pages until they reopen.
            rows_file.unlink(missing_ok=True)
            rows_file.with_suffix(".cells.npz").unlink(missing_ok=True)


def _old_rows_file(path: Path) -> tuple[int, Path] | None:
    """(open fd, rows file) of the index file about to be replaced, when it is readable."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        static = read_static(fd, path, MAGIC)
    except IndexCorrupt:
        os.close(fd)
        return None
    return fd, rows_path(path.parent, static.name, static.uid)


def index_remove(directory: Path, name: str) -> None:
    path, lock_path = index_paths(Path(directory), name)
    if path.exists():
        swap_in(None, path, lock_path)


def leftovers_remove(directory: Path, name: str) -> int:
    """Remove what killed writers of this index left (a temporary index file, its rows
    and cells files, rows files of no index); returns how many files were removed.
    Runs under the writers' lock, so no swap happens meanwhile; a writer still alive
    holds a lock on its temporary file and is left alone."""
    directory = Path(directory)
    path, lock_path = index_paths(directory, name)
    if not directory.is_dir():
        return 0
    with machine_lock(lock_path):
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
