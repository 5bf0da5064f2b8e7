"""Similar-image search over an open index file: exact cosine ranking over every row, or
over the rows of the coarse cells nearest the query (:mod:`.cells`)."""

import numpy as np

from muses.vision.feature_index.file import FeatureIndexFile
from muses.vision.feature_index.widen import as_float32

# Rows scored per step of a whole-matrix pass (float32 copy of 100 MB at 1280-d).
SEARCH_CHUNK = 20_000


def file_nearest(
    handle: FeatureIndexFile, query: np.ndarray, k: int, *, probe: int | None
) -> list[tuple[int, float]]:
    """(image pk, cosine similarity) of the k live rows of an open index file most similar
    to query, best first: exact over the rows of the probed cells (feature_index.cells)
    when the file has cells and probe is given, else over every row."""
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
