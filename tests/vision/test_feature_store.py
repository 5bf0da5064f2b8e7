from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from muses.vision.feature_index.handle import feature_index
from muses.vision.models import ImageFeature
from muses.vision.store import features_extract, image_features_compute

pytestmark = pytest.mark.django_db


def test_extraction_stores_one_vector_per_image(tiny_backbone, make_image):
    images = [make_image(color=(i * 40, 0, 0)) for i in range(5)]
    report = features_extract(backbone=tiny_backbone, batch_size=2)
    assert report.extracted == 5
    rows = ImageFeature.objects.filter(backbone="tiny")
    assert rows.count() == 5
    vector = rows.get(image=images[0]).as_array()
    assert vector.shape == (8,) and vector.dtype == np.float32


@pytest.mark.parametrize("streams", [1, 2, 3])
def test_extraction_with_overlapping_forward_passes_stores_each_image_once_with_its_own_vector(
    tiny_backbone, make_image, streams
):
    images = [make_image(color=(i * 20, 255 - i * 20, 0)) for i in range(11)]
    report = features_extract(backbone=tiny_backbone, batch_size=2, streams=streams)
    assert report.extracted == 11 and ImageFeature.objects.count() == 11
    alone = features_extract(images=[], backbone=tiny_backbone)  # nothing left to do
    assert alone.extracted == 0
    from muses.vision.store import image_source

    for image in images:
        pixels = tiny_backbone.pixels(image_source(image))
        direct = np.asarray(tiny_backbone.model(pixels[None].astype(np.float32)))[0]
        np.testing.assert_allclose(image.features.get().as_array(), direct, rtol=1e-5, atol=1e-5)


def test_extraction_matches_a_direct_forward_pass(tiny_backbone, make_image):
    from muses.collection.decode import decode_image
    from muses.vision.store import image_source

    image = make_image(color=(10, 200, 30))
    features_extract(backbone=tiny_backbone)
    pixels = tiny_backbone.preprocess(decode_image(image_source(image)).image)
    direct = np.asarray(tiny_backbone.model(pixels[None]))[0]
    np.testing.assert_allclose(image.features.get().as_array(), direct, rtol=1e-5, atol=1e-6)


def test_extraction_resumes_after_an_interruption_without_duplicates(tiny_backbone, make_image):
    for i in range(6):
        make_image(color=(0, i * 30, 0))
    out = StringIO()
    call_command("muses_extract_features", "--limit", "2", stdout=out, verbosity=0)
    assert ImageFeature.objects.count() == 2
    call_command("muses_extract_features", stdout=out, verbosity=0)
    call_command("muses_extract_features", stdout=out, verbosity=0)
    assert ImageFeature.objects.count() == 6
    assert "0 images extracted" in out.getvalue().splitlines()[-1]


def test_a_single_image_is_computed_once_and_then_read_back(tiny_backbone, make_image):
    image = make_image()
    first = image_features_compute(image=image, backbone=tiny_backbone)
    second = image_features_compute(image=image, backbone=tiny_backbone)
    np.testing.assert_array_equal(first, second)
    assert ImageFeature.objects.count() == 1


def test_the_matrix_picks_up_new_rows_and_forgets_deleted_images(tiny_backbone, make_image):
    a, _b = make_image(image_id="a"), make_image(image_id="b", color=(0, 0, 255))
    features_extract(backbone=tiny_backbone)
    index = feature_index("tiny")
    assert _listed(index) == ["a", "b"]
    make_image(image_id="c", color=(0, 255, 0))
    features_extract(backbone=tiny_backbone)
    found, rows = index.vectors_of(["c", "a", "unknown"])
    assert found == ["c", "a"] and rows.shape == (2, 8)
    a.delete()
    assert _listed(index) == ["b", "c"]
    assert index.vectors_of(["a", "b"])[0] == ["b"]


def _listed(index) -> list[str]:
    return [i for ids, _ in index.live_chunks(100) for i in ids]


def test_an_unknown_backbone_is_refused_with_the_known_ones():
    with pytest.raises(CommandError, match="Unknown backbone 'resnet'.*efficientnet_lite0"):
        call_command("muses_extract_features", "--backbone", "resnet")


def test_extraction_counts_only_the_vectors_it_stored_not_those_another_worker_had_stored(
    tiny_backbone, make_image
):
    images = [make_image(color=(i * 60, 20, 0)) for i in range(3)]
    image_features_compute(image=images[1], backbone=tiny_backbone)  # the other worker
    earlier = ImageFeature.objects.get(image=images[1])
    report = features_extract(images=images, backbone=tiny_backbone, batch_size=8)
    assert report.extracted == 2 and report.skipped == 1
    assert ImageFeature.objects.count() == 3
    assert ImageFeature.objects.get(image=images[1]).pk == earlier.pk
