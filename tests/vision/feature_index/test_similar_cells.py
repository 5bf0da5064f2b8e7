"""Similar-image search over cells (muses.vision.feature_index.cells): with more cells than it
probes, it still finds the true nearest rows; cells are ranked in all dimensions."""

import numpy as np

from muses.vision.feature_index.cells import CellModel
from muses.vision.feature_index.file import FeatureIndexFile
from muses.vision.feature_index.recall import sampled_recall
from muses.vision.feature_index.rewrite import index_partition
from muses.vision.feature_index.search import file_nearest
from muses.vision.feature_index.swap import index_create

DIM = 16
NAME = "space"


def grouped_index(directory, vectors: np.ndarray) -> FeatureIndexFile:
    pks = np.arange(1, len(vectors) + 1)
    index_create(directory, NAME, dim=DIM, dtype="float16", batches=iter([(pks, pks, vectors)]))
    index_partition(directory, NAME)
    return FeatureIndexFile(directory, NAME)


def groups(count: int, size: int, *, norms=(1.0,), seed=0) -> tuple[np.ndarray, np.ndarray]:
    """(rows, directions): `size` rows around each of `count` random non-negative
    directions, group g scaled to norms[g % len(norms)]."""
    rng = np.random.default_rng(seed)
    directions = rng.gamma(0.5, 1.0, (count, DIM))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    scale = np.array(norms)[np.arange(count) % len(norms)]
    rows = directions[:, None] * scale[:, None, None]
    rows = rows + rng.normal(0, 0.01, (count, size, DIM)) * scale[:, None, None]
    return rows.reshape(-1, DIM).clip(0), directions


def exact(handle, query, k=10) -> list[int]:
    return [pk for pk, _ in file_nearest(handle, query, k, probe=None)]


def test_search_with_more_cells_than_probes_finds_the_exact_nearest_rows(tmp_path):
    rows, directions = groups(60, 20)
    handle = grouped_index(tmp_path, rows)
    assert handle.cells.cells > 40  # about 4 * sqrt(1,200): far more than the probe
    for group in (0, 17, 42):
        query = directions[group] + 0.001
        assert len(handle.cells.probe(query, 4)) < handle.cells.cells / 4
        found = [pk for pk, _ in file_nearest(handle, query, 10, probe=4)]
        assert found == exact(handle, query)
        assert all((pk - 1) // 20 == group for pk in found)  # the query's own group


def test_a_short_query_finds_its_neighbours_among_long_rows(tmp_path):
    # Long rows in some directions, short ones in others: a short query pointing along
    # long rows is near the short rows by distance, near the long ones by angle (cosine).
    rows, directions = groups(60, 20, norms=(10.0, 1.0), seed=3)
    handle = grouped_index(tmp_path, rows)
    for group in (0, 10, 22):  # long groups
        query = directions[group] * 0.5
        found = [pk for pk, _ in file_nearest(handle, query, 10, probe=2)]
        assert found == exact(handle, query)


def test_a_query_among_small_cells_scans_further_cells_until_it_has_seen_enough_rows():
    model = CellModel(
        mean=np.zeros(2, np.float32),
        projection=np.eye(2, dtype=np.float32),
        centroids=np.array([[1, 0], [0.9, 0.1], [0.8, 0.2], [0, 1]], np.float32),
        # 2, 2, 36 and 40 rows: two average cells hold 40
        offsets=np.array([0, 2, 4, 40, 80]),
        partitioned=80,
        normalised=False,
    )
    assert model.probe(np.array([1.0, 0.0]), 2).tolist() == [0, 1, 2]
    assert model.probe(np.array([0.0, 1.0]), 1).tolist() == [3]


def test_cells_are_ranked_by_their_directions_in_all_dimensions_not_in_the_projection():
    # The projection keeps x and y only: there cell 0 sits on the query, but in all three
    # dimensions (z included) cell 1 points the query's way.
    model = CellModel(
        mean=np.zeros(3, np.float32),
        projection=np.eye(3, 2, dtype=np.float32),
        centroids=np.array([[1, 0], [0.7, 0.3]], np.float32),
        offsets=np.array([0, 10, 20]),
        partitioned=20,
        directions=np.array([[1, 0, 0], [0.7, 0.3, 1] / np.linalg.norm([0.7, 0.3, 1])], np.float32),
    )
    query = np.array([1.0, 0.0, 1.0])
    assert model.probe(query, 1).tolist() == [1]
    model.directions = None  # a model written before cells had directions
    assert model.probe(query, 1).tolist() == [0]


def test_each_cell_keeps_the_direction_of_its_rows_and_an_older_model_ranks_without(tmp_path):
    rows, directions = groups(30, 20, norms=(3.0, 1.0))
    handle = grouped_index(tmp_path, rows)
    model, vectors = handle.cells, handle.matrix()[:].astype(np.float32)
    for cell in range(model.cells):
        members = vectors[model.offsets[cell] : model.offsets[cell + 1]]
        members = members / np.linalg.norm(members, axis=1, keepdims=True)
        mean = members.mean(axis=0) if len(members) else np.zeros(DIM)
        expected = mean / (np.linalg.norm(mean) or 1.0)
        np.testing.assert_allclose(model.directions[cell], expected, atol=1e-5)
    path = next(tmp_path.glob("*.cells.npz"))
    with np.load(path) as data:
        old = {key: data[key] for key in data.files if key != "directions"}
    np.savez(path, **old)  # as an older MUSES wrote it
    older = FeatureIndexFile(tmp_path, NAME)
    assert older.cells.directions is None
    for group in (4, 17):
        query = directions[group] + 0.001
        found = [pk for pk, _ in file_nearest(older, query, 10, probe=4)]
        assert found == exact(older, query)


def test_sampled_recall_measures_the_cells_against_an_exact_pass(tmp_path):
    rng = np.random.default_rng(0)
    handle = grouped_index(tmp_path, rng.random((1_500, DIM)))  # no structure: cells miss
    few, every = (
        sampled_recall(handle, probe=1, sample=40),
        sampled_recall(handle, probe=handle.cells.cells, sample=40),
    )
    assert few.queries == every.queries == 40
    assert every.mean == 1.0 and every.worst == 1.0
    assert few.mean < 0.9 and few.worst < few.mean


def test_cells_written_before_they_were_normalised_are_still_searched_as_they_were_made(
    tmp_path,
):
    rows, directions = groups(30, 20)
    grouped_index(tmp_path, rows)
    path = next(tmp_path.glob("*.cells.npz"))
    with np.load(path) as data:
        old = {key: data[key] for key in data.files if key != "normalised"}
    np.savez(path, **old)  # as an older MUSES wrote it
    model = CellModel.load(path)
    assert model.normalised is False
    point = (directions[3] * 7).astype(np.float32)
    raw = (point - model.mean) @ model.projection
    np.testing.assert_allclose(model.project(point[None])[0], raw, rtol=1e-4, atol=1e-4)
