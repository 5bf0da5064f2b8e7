"""helpers.predict_image_path_dict and predict_items: ordering and averaging."""

from pathlib import Path

import numpy as np
import pytest

from muses.collection.models import Item
from naive_classification import helpers
from naive_classification.muses_cnn import NotReady


class FakeClassifier:
    """Predicts fixed probabilities per file name, like MusesClassifier.predict_new."""

    class_names = ["statuary", "vessel", "coin"]

    def __init__(self, table):
        self.table = table
        self.asked = []

    def predict_new(self, path_or_paths):
        paths = [path_or_paths] if isinstance(path_or_paths, (str, Path)) else path_or_paths
        self.asked.append([Path(p).name for p in paths])
        return np.array([self.table[Path(p).name] for p in paths])


@pytest.fixture
def fake():
    return FakeClassifier({"a.jpg": [0.2, 0.7, 0.1], "b.jpg": [0.6, 0.1, 0.3]})


def test_one_image_gives_its_classes_highest_first(fake):
    result = helpers.predict_image_path_dict("a.jpg", classifier=fake)
    assert list(result.items()) == [("vessel", 0.7), ("statuary", 0.2), ("coin", 0.1)]


def test_a_list_of_images_gives_the_mean_highest_first(fake):
    result = helpers.predict_image_path_dict(["a.jpg", "b.jpg"], classifier=fake)
    assert list(result) == ["statuary", "vessel", "coin"]
    assert result["statuary"] == pytest.approx(0.4)
    assert result["vessel"] == pytest.approx(0.4)
    assert result["coin"] == pytest.approx(0.2)


def test_ties_keep_the_definitions_order():
    result = helpers.probabilities_dict(np.array([0.25, 0.5, 0.25]), ["x", "y", "z"])
    assert list(result) == ["y", "x", "z"]


def test_an_empty_list_of_images_is_refused(fake):
    with pytest.raises(ValueError, match="no image paths"):
        helpers.predict_image_path_dict([], classifier=fake)


def test_an_item_is_classified_by_the_mean_over_its_images(db, make_image):
    item = Item.objects.create(museum="Met Museum", object_number="1", title="Jar")
    first, second = make_image(item=item), make_image(item=item, color=(1, 2, 3))
    names = {
        Path(first.file.name).name: [0.2, 0.7, 0.1],
        Path(second.file.name).name: [0.6, 0.1, 0.3],
    }
    fake = FakeClassifier(names)
    result = helpers.predict_items(item, classifier=fake)
    assert fake.asked == [list(names)]
    assert result["statuary"] == pytest.approx(0.4)


def test_several_items_are_classified_together(db, make_image):
    items = [Item.objects.create(museum="M", object_number=str(n)) for n in range(2)]
    images = [make_image(item=item, color=(n, n, n)) for n, item in enumerate(items)]
    fake = FakeClassifier({Path(i.file.name).name: [1.0, 0.0, 0.0] for i in images})
    assert list(helpers.predict_items(items, classifier=fake)) == ["statuary", "vessel", "coin"]
    assert len(fake.asked[0]) == 2


def test_items_without_images_are_refused(db):
    item = Item.objects.create(museum="M", object_number="1")
    with pytest.raises(ValueError, match="no images"):
        helpers.predict_items([item], classifier=FakeClassifier({}))


def test_without_a_configured_model_it_says_how_to_configure_one(settings):
    settings.MUSES_CONFIG = {"classification": {"naive_classification": {"model_path": ""}}}
    with pytest.raises(NotReady, match="MUSES_NAIVE_MODEL_PATH"):
        helpers.predict_image_path_dict("a.jpg")
