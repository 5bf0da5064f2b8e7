"""Fixtures for the classifier: a tiny dataset on disk, and real Egyptian CC0 items."""

import csv
from collections import defaultdict
from pathlib import Path

import pytest
from PIL import Image as PILImage

from exporters.dataset import DatasetEntry, assign_splits, write_dataset
from exporters.naive.labels import NaiveLabeller
from naive_classification import definitions

TINY = 32  # pixels: VGG19 still runs, and a training step takes milliseconds
PER_CLASS = 3  # one image for each split


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """PER_CLASS images of every class, one colour per class, in the exporter's layout."""
    sources = tmp_path_factory.mktemp("sources")
    entries = []
    for name, index in definitions.classes.items():
        for number in range(PER_CLASS):
            source = sources / f"{name}-{number}.png"
            colour = (25 * index, 255 - 20 * index, 60 * number)
            PILImage.new("RGB", (48, 40), colour).save(source)
            entries.append(
                DatasetEntry(
                    f"{name}-{number}",
                    source,
                    f"item:{name}-{number}",
                    None,
                    str(number),
                    name,
                    index,
                    name,
                    "title",
                )
            )
    assign_splits(entries, seed="tiny")
    root = tmp_path_factory.mktemp("tiny") / "dataset"
    return write_dataset(entries, root, {"exporter": "test"}, progress=False)


def real_rows(sample_dir: Path, per_class: int) -> list[dict]:
    """``per_class`` rows of every class from the sample, each naming one class only."""
    labeller = NaiveLabeller(definitions.synonyms_extended)
    chosen = defaultdict(list)
    path = sample_dir / "egyptian-cc0" / "collection.csv"
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            label = labeller.label(row)
            if label.class_name and len(chosen[label.class_name]) < per_class:
                chosen[label.class_name].append(row)
    return [row for rows in chosen.values() for row in rows]


@pytest.fixture
def egyptian_items(db, sample_dir):
    """Items and their real images from sample/egyptian-cc0, three of every class."""
    from muses.collection.models import Item
    from muses.collection.services import image_store

    images = []
    for row in real_rows(sample_dir, per_class=PER_CLASS):
        item = Item.objects.create(
            museum=row["museum"],
            object_number=row["object_number"],
            title=row["title"],
            object_type=row["object_type"],
        )
        data = (sample_dir / "egyptian-cc0" / row["image_file"]).read_bytes()
        images.append(image_store(data=data, name=row["image_file"], item=item))
    return images
