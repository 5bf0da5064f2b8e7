"""Media in an S3-compatible bucket (MUSES_STORAGE=s3), served by moto over HTTP."""

import io
import os
from io import StringIO
from unittest import mock

import numpy as np
import pytest
import requests
from django.core.management import call_command

from exporters.dataset import read_manifest
from exporters.naive.muses_exporter_plugin import do_export
from muses.collection.models import Image, Item
from muses.collection.services import image_store
from muses.vision.models import ImageFeature
from muses.vision.store import features_extract
from naive_classification import helpers
from naive_classification import services as naive_services
from tests.conftest import encode_image

pytestmark = pytest.mark.django_db

TITLES = ["Canopic Jar with Man's Head", "Statue of a Seated Scribe", "Coin of Ptolemy I"]
COLORS = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]


@pytest.fixture
def collection(s3_media, make_image):
    """Three items with one image each, stored in the bucket."""
    images = []
    for number, (title, color) in enumerate(zip(TITLES, COLORS)):
        item = Item.objects.create(museum="Met Museum", object_number=f"MET_{number}", title=title)
        images.append(make_image(item=item, color=color))
    return images


def test_an_imported_image_is_stored_in_the_s3_bucket_and_its_features_extracted(
    s3_media, collection, tiny_backbone
):
    assert s3_media.keys("images/") == sorted(image.file.name for image in collection)
    for image, color in zip(collection, COLORS):
        assert s3_media.read(image.file.name) == encode_image(color=color)
    report = features_extract(backbone=tiny_backbone, batch_size=2)
    assert (report.extracted, report.failed) == (3, 0)
    vectors = [
        ImageFeature.objects.get(image=image, backbone="tiny").as_array() for image in collection
    ]
    assert not np.allclose(vectors[0], vectors[1])  # real pixels were read, not placeholders


def test_an_image_gone_from_the_bucket_fails_alone_in_feature_extraction(
    s3_media, collection, tiny_backbone
):
    s3_media.delete(collection[1].file.name)
    report = features_extract(backbone=tiny_backbone)
    assert (report.extracted, report.failed) == (2, 1)


def test_the_same_bytes_are_stored_once_in_the_bucket(s3_media):
    data = encode_image(color=(9, 99, 199))
    first = image_store(data=data, name="a.jpg", image_id="first")
    second = image_store(data=data, name="b.jpg", image_id="second")
    assert first.file.name == second.file.name
    assert s3_media.keys() == [first.file.name]
    assert Image.objects.count() == 2


def test_an_image_whose_row_cannot_be_written_leaves_no_object_in_the_bucket(s3_media):
    kept = image_store(data=encode_image(color=(1, 2, 3)), image_id="kept")
    with mock.patch.object(Image.objects, "create", side_effect=RuntimeError("database gone")):
        with pytest.raises(RuntimeError):
            image_store(data=encode_image(color=(4, 5, 6)), image_id="lost")
        with pytest.raises(RuntimeError):  # same bytes as a stored image: its file stays
            image_store(data=encode_image(color=(1, 2, 3)), image_id="again")
    assert s3_media.keys() == [kept.file.name]


def test_the_naive_dataset_is_downloaded_from_the_bucket(s3_media, collection, tmp_path):
    root = tmp_path / "dataset"
    do_export(output=root, out=io.StringIO(), progress=False)
    rows = {row["image_id"]: row for row in read_manifest(root)}
    assert {rows[image.image_id]["class"] for image in collection} == {"vessel", "statuary", "coin"}
    for image in collection:
        written = root / rows[image.image_id]["path"]
        assert written.read_bytes() == s3_media.read(image.file.name)
        assert os.stat(written).st_nlink == 1


def test_an_image_missing_from_the_bucket_is_skipped_by_the_export(s3_media, collection, tmp_path):
    s3_media.delete(collection[0].file.name)
    report = do_export(output=tmp_path / "dataset", out=io.StringIO(), progress=False)
    assert report.skipped["image file missing"] == 1 and len(report.entries) == 2


def test_media_gc_removes_orphans_from_the_bucket_and_lists_lost_files(s3_media, collection):
    s3_media.put("images/ab/cd/abcd0000.jpg", b"uploaded but never committed")
    s3_media.delete(collection[0].file.name)
    out, err = StringIO(), StringIO()
    call_command("muses_media_gc", "--min-age", "0", stdout=out, stderr=err)
    assert "removed 1 unreferenced file(s); 1 row(s) without a file" in out.getvalue()
    assert collection[0].file.name in err.getvalue()
    assert s3_media.keys() == sorted(image.file.name for image in collection[1:])


def test_an_image_url_points_into_the_bucket_and_serves_the_file(s3_media, collection):
    image = collection[0]
    url = image.file.url
    assert url.startswith(f"{s3_media.endpoint}/{s3_media.name}/{image.file.name}?")
    response = requests.get(url, timeout=10)
    assert response.status_code == 200 and response.content == s3_media.read(image.file.name)


def test_items_are_classified_from_images_in_the_bucket(s3_media, collection):
    fake = NamedClassifier({os.path.basename(i.file.name): n for n, i in enumerate(collection)})
    assert list(helpers.predict_items(collection[2].item, classifier=fake))[0] == "coin"


def test_the_collection_is_classified_from_images_in_the_bucket(s3_media, collection, monkeypatch):
    monkeypatch.setattr(helpers, "classifier_for", lambda model_path=None: ColourClassifier())
    report = naive_services.collection_classify(progress=False)
    assert (report.classified, report.failed) == (3, 0)
    classes = dict(Image.objects.values_list("image_id", "predicted_class"))
    assert [classes[image.image_id] for image in collection] == ["red", "green", "blue"]


class NamedClassifier:
    """Predicts the class given for each file name, like MusesClassifier.predict_new."""

    class_names = ["vessel", "statuary", "coin"]

    def __init__(self, table):
        self.table = table

    def predict_new(self, paths):
        return np.eye(3)[[self.table[os.path.basename(p)] for p in paths]]


class ColourClassifier:
    """The dominant channel of the image is its class: checks that real pixels arrived."""

    class_names = ["red", "green", "blue"]
    size = 8
    repaint_letterbox = False  # as MusesClassifier records it from its recipe

    def predict_pixels(self, batch):
        means = np.asarray(batch).mean(axis=(1, 2))
        return means / means.sum(axis=1, keepdims=True)
