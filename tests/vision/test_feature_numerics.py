"""The feature store's mixing rule: every vector records the engine and precision that
computed it, and a matrix or a training holds vectors of one numerics family only
(muses.vision.inference.numerics_family)."""

import numpy as np
import pytest

from muses.vision import inference
from muses.vision.feature_index.handle import feature_index
from muses.vision.models import ImageFeature
from muses.vision.store import (
    IncompatibleNumerics,
    features_extract,
    image_features_compute,
    images_missing_features,
)

pytestmark = pytest.mark.django_db


def use_engine(backbone, settings, engine: str, precision: str = "fp32"):
    settings.MUSES_INFERENCE = engine
    settings.MUSES_PRECISION = precision
    backbone._engine = None
    return backbone


def store_as(image, numerics: tuple[str, str], value: float = 1.0) -> ImageFeature:
    """A row as another process, with another engine or precision, would have stored it."""
    engine, precision = numerics
    return ImageFeature.objects.create(
        image=image,
        backbone="tiny",
        weights_digest="tiny-seed0",
        engine=engine,
        precision=precision,
        dim=8,
        vector=np.full(8, value, np.float32).tobytes(),
    )


@pytest.fixture
def bf16_adopted(monkeypatch):
    """As if the quality benches had adopted bf16: its vectors join the fp32 family."""
    monkeypatch.setattr(inference, "ADOPTED_PRECISIONS", frozenset({"fp32", "bf16"}))


@pytest.fixture
def bf16_not_adopted(monkeypatch):
    """As if the quality benches had rejected bf16: its vectors are a family of their own."""
    monkeypatch.setattr(inference, "ADOPTED_PRECISIONS", frozenset({"fp32"}))


def test_bf16_as_shipped_is_a_family_of_its_own():
    # bench/engine_quality.py: bf16 did not keep the tags' quality on this collection.
    assert inference.numerics_family("openvino", "bf16") != inference.FP32_FAMILY
    assert inference.numerics_family("openvino", "fp32") == inference.FP32_FAMILY
    assert inference.numerics_family("tensorflow", "fp32") == inference.FP32_FAMILY


def test_each_stored_vector_records_the_engine_and_precision_that_computed_it(
    tiny_backbone, settings, make_image
):
    first = make_image(color=(200, 0, 0))
    use_engine(tiny_backbone, settings, "tensorflow")
    features_extract(backbone=tiny_backbone)
    second = make_image(color=(0, 200, 0))
    use_engine(tiny_backbone, settings, "openvino")
    features_extract(backbone=tiny_backbone)
    rows = {row.image_id: (row.engine, row.precision) for row in ImageFeature.objects.all()}
    assert rows == {first.pk: ("tensorflow", "fp32"), second.pk: ("openvino", "fp32")}


def test_an_openvino_process_accepts_the_vectors_tensorflow_stored(
    tiny_backbone, settings, make_image
):
    images = [make_image(color=(i * 50, 0, 0)) for i in range(3)]
    use_engine(tiny_backbone, settings, "tensorflow")
    features_extract(backbone=tiny_backbone)
    use_engine(tiny_backbone, settings, "openvino")
    assert not images_missing_features("tiny").exists()
    _, ids, matrix = feature_index("tiny").library()
    assert sorted(ids) == sorted(i.image_id for i in images) and matrix.shape == (3, 8)
    assert features_extract(backbone=tiny_backbone).extracted == 0  # nothing recomputed


def test_adopted_bf16_vectors_are_accepted_beside_fp32_ones(
    tiny_backbone, settings, make_image, bf16_adopted
):
    bf16_image, fp32_image = make_image(color=(9, 9, 9)), make_image(color=(99, 9, 9))
    store_as(bf16_image, ("openvino", "bf16"), 2.0)
    store_as(fp32_image, ("tensorflow", "fp32"), 3.0)
    use_engine(tiny_backbone, settings, "tensorflow")
    _, ids, matrix = feature_index("tiny").library()
    assert ids == [bf16_image.image_id, fp32_image.image_id]
    assert matrix[:, 0].tolist() == [2.0, 3.0]


def test_unadopted_bf16_vectors_are_refused_by_an_fp32_process_and_recomputed(
    tiny_backbone, settings, make_image, bf16_not_adopted
):
    kept, stale = make_image(color=(10, 200, 10)), make_image(color=(200, 10, 10))
    store_as(kept, ("tensorflow", "fp32"), 3.0)
    store_as(stale, ("openvino", "bf16"), 2.0)
    use_engine(tiny_backbone, settings, "openvino", "fp32")
    _, ids, _ = feature_index("tiny").library()
    assert ids == [kept.image_id]  # never mixed into the matrix
    assert list(images_missing_features("tiny")) == [stale]
    assert features_extract(backbone=tiny_backbone).extracted == 1
    replaced = ImageFeature.objects.get(image=stale)
    assert (replaced.engine, replaced.precision) == ("openvino", "fp32")
    assert replaced.as_array()[0] != 2.0
    _, ids, _ = feature_index("tiny").library()
    assert sorted(ids) == sorted([kept.image_id, stale.image_id])


def test_an_unadopted_bf16_process_refuses_the_fp32_vectors(
    tiny_backbone, settings, make_image, bf16_not_adopted
):
    image = make_image()
    store_as(image, ("tensorflow", "fp32"))
    settings.MUSES_PRECISION = "bf16"
    _, ids, _ = feature_index("tiny").library()
    assert ids == []
    assert list(images_missing_features("tiny")) == [image]


def test_a_vector_of_another_family_than_the_configured_one_is_never_stored(
    tiny_backbone, settings, make_image, bf16_not_adopted
):
    # The process is configured for bf16 vectors, but its backbone computes fp32 ones
    # (TensorFlow): storing them would put a second family under the same name.
    image = make_image()
    use_engine(tiny_backbone, settings, "tensorflow")
    assert tiny_backbone.numerics == ("tensorflow", "fp32")  # chosen while fp32 was configured
    settings.MUSES_PRECISION = "bf16"
    with pytest.raises(IncompatibleNumerics, match="'fp32' family; this process stores"):
        image_features_compute(image=image, backbone=tiny_backbone)
    assert ImageFeature.objects.count() == 0


def test_a_tag_trains_on_one_family_only(tiny_backbone, settings, make_image, bf16_not_adopted):
    from custom_tagging.models import Assignment, CustomTag
    from custom_tagging.services.training import training_data_get

    tag = CustomTag.objects.create(name="red")
    images = [make_image(color=(250 - i * 40, i * 40, 0)) for i in range(4)]
    for index, image in enumerate(images):
        label = Assignment.Label.POSITIVE if index % 2 == 0 else Assignment.Label.NEGATIVE
        Assignment.objects.create(tag=tag, image=image, label=label)
    use_engine(tiny_backbone, settings, "openvino", "fp32")
    features_extract(backbone=tiny_backbone)
    ImageFeature.objects.filter(image=images[0]).update(precision="bf16")  # another family
    features, labels, _ = training_data_get(tag=tag)
    assert len(features) == 4
    stored = ImageFeature.objects.get(image=images[0])
    assert stored.precision == "fp32"  # recomputed, not mixed in
    # The index keeps float16 copies of the stored float32 vectors (muses.vision.feature_index).
    assert any(np.allclose(row, stored.as_array(), rtol=1e-3, atol=1e-3) for row in features)


def test_an_index_of_another_family_reads_only_its_own_family_whatever_this_process_reads(
    tiny_backbone, settings, make_image, bf16_not_adopted
):
    from muses.vision.feature_index.handle import FeatureIndex
    from muses.vision.feature_index.maintenance import index_check

    settings.MUSES_INDEX_POLL_S = 0  # every look catches up with the database
    bf16 = inference.numerics_family("openvino", "bf16")
    images = [make_image(color=(i * 50, 0, 0)) for i in range(4)]
    store_as(images[0], ("openvino", "bf16"), 1.0)
    store_as(images[1], ("tensorflow", "fp32"), 2.0)  # this process's family
    handle = FeatureIndex("tiny", family=bf16)
    built = handle.file()  # no file yet: built from the bf16 rows only
    assert built.name == f"tiny.{bf16}"
    assert built.rows()["image"].tolist() == [images[0].pk]
    store_as(images[2], ("openvino", "bf16"), 3.0)
    store_as(images[3], ("tensorflow", "fp32"), 4.0)
    caught_up = handle.file()
    assert sorted(caught_up.rows()["image"].tolist()) == [images[0].pk, images[2].pk]
    found, vectors = handle.vectors_of([image.image_id for image in images])
    assert found == [images[0].image_id, images[2].image_id]
    assert vectors[:, 0].tolist() == [1.0, 3.0]
    assert index_check(backbone="tiny", family=bf16).ok
