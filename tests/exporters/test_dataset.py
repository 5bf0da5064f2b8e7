"""Selection, stratified split and atomic writing of an exported dataset."""

from collections import Counter
from pathlib import Path

import pytest

from exporters.dataset import (
    DatasetEntry,
    DatasetMissing,
    assign_splits,
    cap_per_class,
    read_manifest,
    split_counts,
    swap_in,
    write_dataset,
)


def entries(counts: dict[str, int], source: Path = Path("/nowhere/x.jpg")) -> list[DatasetEntry]:
    made = []
    for index, (class_name, count) in enumerate(counts.items()):
        for number in range(count):
            made.append(
                DatasetEntry(
                    image_id=f"{class_name}-{number}",
                    source=source,
                    group=f"item:{class_name}-{number}",
                    item_id=None,
                    object_number=str(number),
                    class_name=class_name,
                    class_index=index,
                    matched_word=class_name,
                    field="title",
                )
            )
    return made


def splits_of(made):
    return {e.image_id: e.split for e in made}


def test_the_split_is_the_same_every_time():
    first, second = entries({"coin": 20, "vessel": 40}), entries({"vessel": 40, "coin": 20})
    assign_splits(first, seed="s")
    assign_splits(list(reversed(second)), seed="s")
    assert splits_of(first) == splits_of(second)


def test_another_seed_gives_another_split():
    first, second = entries({"vessel": 40}), entries({"vessel": 40})
    assign_splits(first, seed="one")
    assign_splits(second, seed="two")
    assert splits_of(first) != splits_of(second)


def test_the_split_is_stratified_by_class():
    made = entries({"coin": 20, "vessel": 100})
    assign_splits(made, seed="s")
    counts = Counter((e.class_name, e.split) for e in made)
    assert counts[("coin", "train")] == 14 and counts[("coin", "test")] == 3
    assert counts[("vessel", "train")] == 70 and counts[("vessel", "validation")] == 15


def test_images_of_one_item_stay_in_one_split():
    made = entries({"vessel": 30})
    for entry in made[:6]:
        entry.group = "item:shared"
    assign_splits(made, seed="s")
    assert len({e.split for e in made[:6]}) == 1


@pytest.mark.parametrize(
    "groups,expected",
    [(1, (1, 0, 0)), (2, (1, 1, 0)), (3, (1, 1, 1)), (10, (6, 2, 2)), (100, (70, 15, 15))],
)
def test_small_classes_still_reach_validation_and_test(groups, expected):
    counts = split_counts(groups)
    assert (counts["train"], counts["validation"], counts["test"]) == expected


def test_the_cap_keeps_the_same_images_every_time():
    kept = cap_per_class(entries({"coin": 5, "vessel": 50}), 10, seed="s")
    again = cap_per_class(list(reversed(entries({"coin": 5, "vessel": 50}))), 10, seed="s")
    assert Counter(e.class_name for e in kept) == {"coin": 5, "vessel": 10}
    assert [e.image_id for e in kept] == [e.image_id for e in again]


def test_writing_replaces_the_previous_dataset_whole(tmp_path):
    source = tmp_path / "image.jpg"
    source.write_bytes(b"jpeg")
    root = tmp_path / "dataset"
    first = entries({"coin": 3}, source)
    assign_splits(first, seed="s")
    write_dataset(first, root, {}, progress=False)
    second = entries({"vessel": 3}, source)
    assign_splits(second, seed="s")
    write_dataset(second, root, {}, progress=False)
    assert {row["class"] for row in read_manifest(root)} == {"vessel"}
    assert not any(root.glob("*/coin"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset", "image.jpg"]


def test_a_failed_swap_puts_the_old_dataset_back(tmp_path, monkeypatch):
    root, staging = tmp_path / "dataset", tmp_path / "staging"
    root.mkdir()
    (root / "old").write_text("old")
    import exporters.dataset as dataset

    real_replace = dataset.os.replace

    def failing_replace(src, dst):
        if Path(src) == staging:
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(dataset.os, "replace", failing_replace)
    with pytest.raises(OSError):
        swap_in(staging, root)
    assert (root / "old").read_text() == "old"


def test_reading_a_missing_dataset_says_to_run_the_exporter(tmp_path):
    with pytest.raises(DatasetMissing, match="muses_export_classification_data --exporter naive"):
        read_manifest(tmp_path)
