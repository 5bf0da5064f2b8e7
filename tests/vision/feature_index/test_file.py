"""The per-machine feature index file: shared between real processes, crash-safe, and
refusing files it did not write."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from muses.vision.feature_index.errors import IndexCorrupt
from muses.vision.feature_index.file import FeatureIndexFile
from muses.vision.feature_index.format import HEADER_BYTES
from muses.vision.feature_index.rewrite import index_compact
from muses.vision.feature_index.swap import index_create

ROOT = Path(__file__).resolve().parents[3]
DIM = 8
NAME = "space"


def vectors_for(feature_pks) -> np.ndarray:
    """Each row's values say which feature it is, so a misplaced row cannot pass."""
    pks = np.asarray(feature_pks, dtype=np.float32)[:, None]
    return pks + np.arange(DIM, dtype=np.float32)[None] / 8


def empty_index(directory: Path) -> FeatureIndexFile:
    index_create(directory, NAME, dim=DIM, dtype="float16", batches=iter(()))
    return FeatureIndexFile(directory, NAME)


def run_python(code: str, *args) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter (another process, its own maps and locks)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


WRITER = """
    import sys
    import numpy as np
    from muses.vision.feature_index.file import FeatureIndexFile
    from tests.vision.feature_index.test_file import NAME, vectors_for

    import os, time

    directory, first, batches, size = sys.argv[1], *map(int, sys.argv[2:5])
    index = FeatureIndexFile(directory, NAME)
    while len(sys.argv) > 5 and not os.path.exists(sys.argv[5]):
        time.sleep(0.001)  # start together with the other writer
    for b in range(batches):
        pks = np.arange(first + b * size, first + (b + 1) * size)
        index.append(pks, pks + 1_000_000, vectors_for(pks))
"""


def test_rows_appended_by_another_process_are_found_after_one_header_read(tmp_path):
    index = empty_index(tmp_path)
    result = run_python(WRITER, tmp_path, 100, 3, 4)
    assert result.returncode == 0, result.stderr
    assert index.count == 0  # nothing read yet
    index.refresh()
    assert index.count == 12
    rows = index.rows_of_features([111, 100, 5])
    assert rows[2] == -1 and (rows[:2] >= 0).all()
    np.testing.assert_allclose(index.vectors(rows[:2]), vectors_for([111, 100]), rtol=1e-3)
    assert list(index.rows()["image"][rows[:2]]) == [1_000_111, 1_000_100]


def test_two_processes_appending_at_once_never_interleave_or_lose_rows(tmp_path):
    index = empty_index(tmp_path)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WRITER), str(tmp_path), str(first), "100", "5"]
            + [str(tmp_path / "go")],
            cwd=ROOT,
            stderr=subprocess.PIPE,
        )
        for first in (0, 10_000)
    ]
    (tmp_path / "go").touch()
    for writer in writers:
        assert writer.wait(timeout=120) == 0, writer.stderr.read()
    index.refresh()
    features = index.rows()["feature"]
    assert index.count == 1000 and len(set(features.tolist())) == 1000
    # Each batch of 5 is contiguous and in order, whichever writer got the lock first.
    batches = features.reshape(-1, 5)
    assert (np.diff(batches, axis=1) == 1).all() and (batches[:, 0] % 5 == 0).all()
    np.testing.assert_allclose(index.matrix().astype(np.float32), vectors_for(features), rtol=1e-3)


def test_a_crash_in_the_middle_of_an_append_leaves_an_index_that_opens_without_it(tmp_path):
    index = empty_index(tmp_path)
    index.append([1, 2], [11, 12], vectors_for([1, 2]))
    crash = """
        import os, sys
        import numpy as np
        from muses.vision.feature_index.file import FeatureIndexFile
        from tests.vision.feature_index.test_file import NAME, vectors_for

        # Die after the rows are written, before the header says they exist.
        FeatureIndexFile._write_live = lambda *args, **kwargs: os._exit(9)
        index = FeatureIndexFile(sys.argv[1], NAME)
        index.append([3, 4, 5], [13, 14, 15], vectors_for([3, 4, 5]))
    """
    assert run_python(crash, tmp_path).returncode == 9
    reopened = FeatureIndexFile(tmp_path, NAME)
    assert reopened.count == 2 and list(reopened.rows_of_features([3, 1])) == [-1, 0]
    assert reopened.torn_tail_bytes() > 0
    # The next append cuts the torn tail off and lands right after the committed rows.
    reopened.append([6], [16], vectors_for([6]))
    assert reopened.torn_tail_bytes() == 0
    assert list(reopened.rows()["feature"]) == [1, 2, 6]
    np.testing.assert_allclose(reopened.vectors([2]), vectors_for([6]), rtol=1e-3)


def test_a_tombstoned_row_is_no_longer_found_by_any_process(tmp_path):
    index = empty_index(tmp_path)
    index.append([1, 2, 3], [11, 12, 13], vectors_for([1, 2, 3]))
    other = FeatureIndexFile(tmp_path, NAME)
    assert index.tombstone([2]) == 1
    other.refresh()
    assert list(other.rows_of_features([1, 2, 3]) >= 0) == [True, False, True]
    assert other.dead_count() == 1


def test_compaction_drops_tombstones_and_readers_move_to_the_new_file(tmp_path):
    index = empty_index(tmp_path)
    index.append([1, 2, 3, 4], [11, 12, 13, 14], vectors_for([1, 2, 3, 4]))
    index.tombstone([1, 3])
    assert index_compact(tmp_path, NAME) == (2, 2)
    assert index.refresh() is False  # the old file says it was replaced
    fresh = FeatureIndexFile(tmp_path, NAME)
    assert list(fresh.rows()["feature"]) == [2, 4] and fresh.dead_count() == 0
    np.testing.assert_allclose(fresh.vectors([0, 1]), vectors_for([2, 4]), rtol=1e-3)


def test_a_feature_stored_again_after_a_delete_is_found_in_its_new_row(tmp_path):
    index = empty_index(tmp_path)
    index.append([1, 2], [11, 12], vectors_for([1, 2]))
    index.tombstone([2])
    index.append([2], [99], vectors_for([7]))  # SQLite reuses the highest rowid
    row = index.rows_of_features([2])[0]
    assert row == 2 and index.rows()["image"][row] == 99


def test_a_foreign_file_is_refused_with_a_clear_message(tmp_path):
    (tmp_path / f"{NAME}.index").write_bytes(b"PK\x03\x04" + bytes(HEADER_BYTES))
    with pytest.raises(IndexCorrupt, match="is not a MUSES feature index"):
        FeatureIndexFile(tmp_path, NAME)


def test_a_damaged_header_is_refused(tmp_path):
    empty_index(tmp_path).close()
    path = tmp_path / f"{NAME}.index"
    data = bytearray(path.read_bytes())
    data[12] ^= 0xFF  # the dimension
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt, match="damaged header"):
        FeatureIndexFile(tmp_path, NAME)


def test_a_truncated_file_is_refused(tmp_path):
    index = empty_index(tmp_path)
    index.append([1, 2, 3], [11, 12, 13], vectors_for([1, 2, 3]))
    index.close()
    path = tmp_path / f"{NAME}.index"
    path.write_bytes(path.read_bytes()[: HEADER_BYTES + DIM * 2])
    with pytest.raises(IndexCorrupt, match="truncated"):
        FeatureIndexFile(tmp_path, NAME)


def test_the_index_of_another_feature_space_is_refused(tmp_path):
    empty_index(tmp_path).close()
    (tmp_path / f"{NAME}.index").rename(tmp_path / "other.index")
    with pytest.raises(IndexCorrupt, match="is the index of 'space', not 'other'"):
        FeatureIndexFile(tmp_path, "other")


def clustered(n: int, clusters: int = 6) -> np.ndarray:
    rng = np.random.default_rng(1)
    centres = rng.gamma(1.0, 1.0, (clusters, DIM))
    return (centres[np.arange(n) % clusters] + rng.normal(0, 0.05, (n, DIM))).clip(0)


def test_grouping_into_cells_keeps_every_live_row_and_makes_each_cell_contiguous(tmp_path):
    from muses.vision.feature_index.rewrite import index_partition

    index = empty_index(tmp_path)
    pks = np.arange(1, 241)
    index.append(pks, pks + 1000, clustered(240))
    index.tombstone([5, 6])
    cells = index_partition(tmp_path, NAME)
    grouped = FeatureIndexFile(tmp_path, NAME)
    model, rows = grouped.cells, grouped.rows()
    assert model.cells == cells and grouped.count == 238 and 5 not in rows["feature"]
    assert (np.diff(rows["cell"]) >= 0).all()  # sorted by cell
    for cell in range(cells):
        start, stop = model.offsets[cell], model.offsets[cell + 1]
        assert (rows["cell"][start:stop] == cell).all()
    np.testing.assert_allclose(
        grouped.vectors(grouped.rows_of_features([7])), clustered(240)[6:7], rtol=1e-2, atol=1e-2
    )


def test_a_row_appended_after_grouping_joins_its_nearest_cell(tmp_path):
    from muses.vision.feature_index.rewrite import index_partition

    index = empty_index(tmp_path)
    index.append(np.arange(1, 121), np.arange(1, 121), clustered(120))
    index_partition(tmp_path, NAME)
    grouped = FeatureIndexFile(tmp_path, NAME)
    vector = clustered(121)[120:]
    grouped.append([500], [500], vector)
    row = grouped.rows_of_features([500])[0]
    assert row == 120 and grouped.rows()["cell"][row] == grouped.cells.assign(vector)[0]


def test_stored_float16_vectors_read_back_as_exactly_the_float32_numpy_would_give():
    from muses.vision.feature_index.widen import as_float32

    rng = np.random.default_rng(0)
    values = (rng.standard_normal((300, 7)) * 100).astype(np.float16)
    values[0, :6] = [6e-8, -6e-5, 65504, -65504, -0.0, 0.0]  # subnormal, extremes, zeros
    widened = as_float32(values)
    assert widened.dtype == np.float32 and widened.shape == values.shape
    assert np.array_equal(widened.view(np.uint32), values.astype(np.float32).view(np.uint32))


def writers_lock_is_free(directory: Path) -> bool:
    import fcntl
    import os

    fd = os.open(directory / f"{NAME}.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_compaction_keeps_what_writers_did_while_it_copied_without_holding_their_lock(tmp_path):
    from muses.vision.feature_index.rewrite import index_rewrite

    index = empty_index(tmp_path)
    index.append([1, 2, 3, 4], [11, 12, 13, 14], vectors_for([1, 2, 3, 4]))
    index.tombstone([1])
    writer = FeatureIndexFile(tmp_path, NAME)
    seen = {}

    def meanwhile():
        seen["lock free"] = writers_lock_is_free(tmp_path)
        writer.append([5], [15], vectors_for([5]))
        writer.tombstone([2])

    kept, dropped, _ = index_rewrite(tmp_path, NAME, regroup_from=None, during_copy=meanwhile)
    assert seen["lock free"] and dropped == 1
    fresh = FeatureIndexFile(tmp_path, NAME)
    assert list(fresh.rows_of_features([1, 2, 3, 4, 5]) >= 0) == [False, False, True, True, True]
    np.testing.assert_allclose(
        fresh.vectors(fresh.rows_of_features([5])), vectors_for([5]), rtol=1e-3
    )
    assert fresh.dead_count() == 1 and fresh.torn_tail_bytes() == 0


def test_rows_appended_while_cells_are_regrouped_join_the_new_cells(tmp_path):
    from muses.vision.feature_index.rewrite import index_rewrite

    index = empty_index(tmp_path)
    pks = np.arange(1, 241)
    index.append(pks, pks + 1000, clustered(240))
    late = clustered(241)[240:]

    def meanwhile():
        FeatureIndexFile(tmp_path, NAME).append([500], [1500], late)

    index_rewrite(tmp_path, NAME, regroup_from=0, during_copy=meanwhile)
    grouped = FeatureIndexFile(tmp_path, NAME)
    row = grouped.rows_of_features([500])[0]
    assert grouped.count == 241 and row == 240
    assert grouped.rows()["cell"][row] == grouped.cells.assign(late)[0]
    assert grouped.cells.partitioned == 240


def test_a_compaction_overtaken_by_a_rebuild_leaves_the_rebuilt_index(tmp_path):
    from muses.vision.feature_index.errors import IndexMissing
    from muses.vision.feature_index.rewrite import index_rewrite

    index = empty_index(tmp_path)
    index.append([1, 2], [11, 12], vectors_for([1, 2]))

    def rebuild():
        batches = iter([(np.array([7]), np.array([17]), vectors_for([7]))])
        index_create(tmp_path, NAME, dim=DIM, dtype="float16", batches=batches)

    with pytest.raises(IndexMissing, match="replaced by a rebuild"):
        index_rewrite(tmp_path, NAME, regroup_from=None, during_copy=rebuild)
    assert list(FeatureIndexFile(tmp_path, NAME).rows()["feature"]) == [7]
    assert len(list(tmp_path.glob("*.rows"))) == 1  # the dropped copy left nothing behind


def test_an_open_that_races_a_swap_opens_the_new_file_instead_of_calling_it_damaged(
    tmp_path, monkeypatch
):
    index = empty_index(tmp_path)
    index.append([1, 2, 3], [11, 12, 13], vectors_for([1, 2, 3]))
    index.tombstone([2])
    open_rows, swapped = FeatureIndexFile._open_rows, []

    def compaction_between_header_and_rows(self):
        if not swapped:  # the old rows file is deleted after this open read its header
            swapped.append(None)
            swapped[0] = index_compact(tmp_path, NAME)
        return open_rows(self)

    monkeypatch.setattr(FeatureIndexFile, "_open_rows", compaction_between_header_and_rows)
    opened = FeatureIndexFile(tmp_path, NAME)
    assert swapped == [(2, 1)]
    assert list(opened.rows()["feature"]) == [1, 3] and opened.dead_count() == 0
