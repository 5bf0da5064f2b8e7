"""EfficientNet-Lite0: offline ImageNet weights, conversion cache, and the whole backbone path.

The real-weights tests share one backbone built from the per-machine weights cache
(tests.settings' MUSES_WEIGHTS_DIR); the caching tests convert into their own temp dir.
"""

import numpy as np
import pytest
from PIL import Image as PILImage
from skimage import data as skdata

from muses.vision import efficientnet_lite0 as lite0
from muses.vision.backbones import get_backbone, imagenet_class_names
from tests.conftest import SAMPLE_DIR

CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat"}
COFFEE_CLASSES = {"espresso", "cup"}
# What this conversion gives (tiger cat .39, Egyptian cat .36, tabby .17; espresso .95);
# a wrong padding or epsilon moves these by far more than the tolerance.
REFERENCE = {
    "chelsea": [("tiger cat", 0.386), ("Egyptian cat", 0.356), ("tabby", 0.169)],
    "coffee": [("espresso", 0.951)],
}
TOLERANCE = 0.03
TINY_INPUT = 32


@pytest.fixture(scope="module")
def backbone():
    return get_backbone("efficientnet_lite0")


@pytest.fixture(scope="module")
def keywords(backbone):
    """Top-3 keywords for skimage's cat and coffee photos, through the public path."""
    images = {"chelsea": skdata.chelsea(), "coffee": skdata.coffee()}
    batch = np.stack([backbone.preprocess(PILImage.fromarray(a)) for a in images.values()])
    features = backbone.extract(batch)
    return dict(zip(images, backbone.keywords(features, top=3)))


def test_the_class_list_has_1000_names_in_imagenet_order():
    names = imagenet_class_names()
    assert len(names) == lite0.NUM_CLASSES
    assert (names[0], names[281], names[282], names[285], names[967]) == (
        "tench",
        "tabby",
        "tiger cat",
        "Egyptian cat",
        "espresso",
    )


def test_preprocess_centre_crops_to_a_uint8_square_that_normalizes_around_zero():
    image = PILImage.fromarray(skdata.chelsea())  # 451 x 300, landscape
    array = lite0.preprocess(image, 224)
    assert array.shape == (224, 224, 3)
    assert array.dtype == np.uint8
    normalized = lite0.normalize(array.astype(np.float32))
    assert -1.0 <= normalized.min() and normalized.max() < 1.0


@pytest.mark.parametrize("size", [(451, 300), (300, 451), (224, 224), (2000, 150)])
def test_preprocess_equals_resizing_the_whole_image_then_cropping_its_centre(size):
    image = PILImage.fromarray(skdata.coffee()).resize(size)
    short = 224 + lite0.CROP_PADDING
    scale = short / min(size)
    resized = image.resize(
        (max(224, round(size[0] * scale)), max(224, round(size[1] * scale))), PILImage.BICUBIC
    )
    left, top = round((resized.width - 224) / 2), round((resized.height - 224) / 2)
    expected = np.asarray(resized.crop((left, top, left + 224, top + 224)), np.int16)
    diff = np.abs(lite0.preprocess(image, 224).astype(np.int16) - expected)
    assert diff.max() <= 4 and diff.mean() < 0.5  # rounding of the resampling weights only


@pytest.mark.slow
def test_chelsea_is_recognised_as_a_cat(keywords):
    top3 = [name for name, _ in keywords["chelsea"]]
    assert CAT_CLASSES & set(top3), top3


@pytest.mark.slow
def test_coffee_is_recognised_as_espresso_or_a_cup(keywords):
    assert keywords["coffee"][0][0] in COFFEE_CLASSES, keywords["coffee"]


@pytest.mark.slow
def test_probabilities_match_the_reference_conversion(keywords):
    for image, expected in REFERENCE.items():
        got = dict(keywords[image])
        for name, probability in expected:
            assert got.get(name) == pytest.approx(probability, abs=TOLERANCE), (image, got)


@pytest.mark.slow
def test_the_imagenet_backbone_exposes_pooled_features_and_its_head(backbone):
    assert backbone.model.output.shape[-1] == lite0.FEATURE_DIM
    weights, bias = backbone.head
    assert weights.shape == (lite0.FEATURE_DIM, lite0.NUM_CLASSES) and bias.shape == (1000,)
    assert len(backbone.weights_digest) == 16 and backbone.weights_digest != "random"
    assert backbone.model.get_layer("block3b_dwconv") and backbone.model.get_layer("top_conv")


@pytest.mark.slow
def test_converted_weights_are_cached_and_a_second_build_loads_the_cache(
    settings, tmp_path, monkeypatch
):
    settings.MUSES_WEIGHTS_DIR = tmp_path / "weights"
    first = lite0.build_base(TINY_INPUT, "imagenet")
    assert (tmp_path / "weights" / lite0.LITE0.cache_file).is_file()

    def no_conversion(path):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(lite0, "load_state_dict", no_conversion)
    second = lite0.build_base(TINY_INPUT, "imagenet")
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_randomly_initialised_base_of_any_size_gives_1280_features():
    model, head, digest = lite0.build_feature_model(weights=None, input_size=TINY_INPUT)
    features = np.asarray(model(np.zeros((2, TINY_INPUT, TINY_INPUT, 3), np.float32)))
    assert features.shape == (2, lite0.FEATURE_DIM)
    assert head is None and digest == "random"


def test_a_state_dict_with_a_tensor_too_many_is_rejected():
    model = lite0.build_classifier(TINY_INPUT)
    state = _state_shaped_like(model)
    state["_blocks.99._bn1.weight"] = np.zeros(1, np.float32)
    with pytest.raises(ValueError, match="not used"):
        lite0.load_torch_weights(model, state)


def test_a_state_dict_missing_a_tensor_is_rejected():
    model = lite0.build_classifier(TINY_INPUT)
    state = _state_shaped_like(model)
    del state["_blocks.7._project_conv.weight"]
    with pytest.raises(KeyError, match="_blocks.7._project_conv.weight"):
        lite0.load_torch_weights(model, state)


def _state_shaped_like(model) -> dict:
    """A zero state dict with the torch names and layouts the converter expects."""
    state = {}
    for layer_name, prefix in lite0._torch_prefixes().items():
        layer = model.get_layer(layer_name)
        shapes = [tuple(w.shape) for w in layer.weights]
        kind = type(layer).__name__
        if kind == "Conv2D":
            kh, kw, cin, cout = shapes[0]
            state[f"{prefix}.weight"] = np.zeros((cout, cin, kh, kw), np.float32)
        elif kind == "DepthwiseConv2D":
            kh, kw, channels, _ = shapes[0]
            state[f"{prefix}.weight"] = np.zeros((channels, 1, kh, kw), np.float32)
        elif kind == "Dense":
            state[f"{prefix}.weight"] = np.zeros(shapes[0][::-1], np.float32)
            state[f"{prefix}.bias"] = np.zeros(shapes[1], np.float32)
        else:
            for name in ("weight", "bias", "running_mean", "running_var"):
                state[f"{prefix}.{name}"] = np.ones(shapes[0], np.float32)
    return state


SAMPLE_IMAGES = sorted((SAMPLE_DIR / "egyptian-cc0" / "images").glob("*.jpg"))[:16]
# BENCHMARKS.md states 1.4e-5 on features of magnitude ~5; float32 reassociation of the
# folded products stays well inside this, a wrong scale, bias or epsilon does not.
FOLDING_TOLERANCE = 1e-4


@pytest.mark.slow
def test_folded_network_gives_the_unfolded_networks_features_on_real_images(backbone):
    reference = lite0._features_of(lite0._imagenet_classifier(224, None))
    pixels = np.stack([backbone.preprocess(PILImage.open(path)) for path in SAMPLE_IMAGES])
    expected = np.asarray(reference(lite0.normalize(pixels.astype(np.float32)), training=False))
    folded = backbone.extract(pixels)
    assert expected.shape == folded.shape == (len(SAMPLE_IMAGES), lite0.FEATURE_DIM)
    assert np.abs(expected).max() > 1.0  # real activations, not a dead network
    assert np.abs(folded - expected).max() < FOLDING_TOLERANCE


def test_lite2_is_built_deeper_and_wider_with_lite0s_stem_and_head():
    lite2 = lite0.build_classifier(TINY_INPUT, variant=lite0.LITE2)
    blocks = {layer.name.split("_")[0] for layer in lite2.layers if layer.name.startswith("block")}
    assert len(blocks) == 21 and len(lite0._block_specs()) == 16
    assert lite2.get_layer("stem_conv").filters == lite0.STEM_FILTERS
    assert lite2.get_layer("top_conv").filters == lite0.FEATURE_DIM
    assert lite2.get_layer("block7a_project_conv").filters == 352


@pytest.mark.slow
def test_lite2s_imagenet_weights_fill_every_layer_and_see_the_cat_and_the_coffee(
    settings, tmp_path
):
    settings.MUSES_WEIGHTS_DIR = tmp_path / "weights"
    settings.MUSES_INFERENCE = "tensorflow"
    backbone = get_backbone.__wrapped__("efficientnet_lite2")
    images = [skdata.chelsea(), skdata.coffee()]
    batch = np.stack([backbone.preprocess(PILImage.fromarray(a)) for a in images])
    assert batch.shape == (2, 260, 260, 3)
    cat, coffee = backbone.keywords(backbone.extract(batch), top=3)
    assert cat[0][0] in CAT_CLASSES and coffee[0][0] in COFFEE_CLASSES
    assert backbone.weights_digest == lite0.file_digest(lite0.source_weights_path(lite0.LITE2))
