"""The one writer of the index's rows: vectors in the stored dtype and their row records,
written at a row number, and tombstones. Appends, new files and the carry-over of a
rewrite all write through it, so a row is laid out in one place."""

import os

import numpy as np

from muses.vision.feature_index.format import DEAD_AT, ROW_DTYPE, record_offset, vector_offset


def to_dtype(vectors: np.ndarray, dtype: str, dim: int) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, dim)
    if dtype == "float16":
        # Backbone features are far inside float16's range; clip rather than store inf.
        vectors = np.clip(vectors, -65504.0, 65504.0)
    return np.ascontiguousarray(vectors.astype(dtype))


def encode_rows(
    feature_pks, image_pks, vectors: np.ndarray, *, dtype: str, dim: int, cells=None
) -> tuple[np.ndarray, np.ndarray]:
    """(vectors in the stored dtype, their live row records); cells None: no cell (-1)."""
    data = to_dtype(vectors, dtype, dim)
    records = np.zeros(len(feature_pks), ROW_DTYPE)
    records["feature"], records["image"] = feature_pks, image_pks
    records["cell"] = -1 if cells is None else cells
    # Of the stored (rounded) vector, so scores need no pass over the vectors for it.
    records["norm"] = np.linalg.norm(data.astype(np.float32), axis=1)
    return data, records


def rows_write(vec_fd: int, rows_fd: int, *, at: int, data: np.ndarray, records) -> None:
    """Write encoded rows from row number ``at`` on; readers see them only once the
    header's count is moved past them."""
    os.pwrite(vec_fd, data.tobytes(), vector_offset(at, data.shape[1] * data.itemsize))
    os.pwrite(rows_fd, records.tobytes(), record_offset(at))


def tombstones_write(rows_fd: int, rows) -> None:
    """Set the tombstone byte of these row numbers."""
    for row in rows:
        os.pwrite(rows_fd, b"\x01", record_offset(row) + DEAD_AT)
