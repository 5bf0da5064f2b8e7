"""The feature index on disk: one append-only file pair per feature space.

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
cuts off. PostgreSQL rows stay the source of truth; :mod:`muses.vision.feature_index.handle`
keeps this in step with them.
"""

import os
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from muses.vision.feature_index.errors import IndexCorrupt

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


class Static(NamedTuple):
    """The checked part of a header: what the vectors are and whose they are."""

    dim: int
    dtype: str
    uid: bytes
    name: str


class Live(NamedTuple):
    """The part of the index file's header that appends and tombstones move."""

    count: int = 0  # committed rows
    generation: int = 0  # bumped by every change readers must see
    dead: int = 0  # tombstoned rows
    superseded: int = 0  # 1 once a rebuild or compaction replaced the file
    cells: int = 0  # coarse cells of the cells file beside it (0: none)

    @classmethod
    def read(cls, fd: int) -> "Live":
        return cls(*LIVE.unpack(os.pread(fd, LIVE.size, LIVE_AT)))

    def pack(self) -> bytes:
        return LIVE.pack(*self)

    def write(self, fd: int) -> None:
        os.pwrite(fd, self.pack(), LIVE_AT)


def index_paths(directory: Path, name: str) -> tuple[Path, Path]:
    return directory / f"{name}.index", directory / f"{name}.lock"


def rows_path(directory: Path, name: str, uid: bytes) -> Path:
    return directory / f"{name}.{uid.hex()}.rows"


def cells_path(directory: Path, name: str, uid: bytes) -> Path:
    return directory / f"{name}.{uid.hex()}.cells.npz"


def vector_offset(row: int, row_bytes: int) -> int:
    return HEADER_BYTES + row * row_bytes


def record_offset(row: int) -> int:
    return HEADER_BYTES + row * ROW_DTYPE.itemsize


def header_bytes(magic: bytes, static: Static, live: Live | None = None) -> bytes:
    """A whole header: the static part and its CRC, then the live part."""
    packed = STATIC.pack(
        magic,
        FORMAT_VERSION,
        static.dim,
        static.dtype.encode(),
        static.uid,
        static.name.encode("utf-8")[:96],
    )
    head = (packed + struct.pack("<I", zlib.crc32(packed))).ljust(LIVE_AT, b"\0")
    return (head + (live or Live()).pack()).ljust(HEADER_BYTES, b"\0")


def parse_static(data: bytes, path: Path, magic: bytes) -> Static:
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
    return Static(fields[2], dtype, fields[4], fields[5].rstrip(b"\0").decode("utf-8"))


def read_static(fd: int, path: Path, magic: bytes) -> Static:
    return parse_static(os.pread(fd, HEADER_BYTES, 0), path, magic)
