"""Fixtures shared by the whole suite."""

import io
from pathlib import Path

import pytest
from PIL import Image as PILImage

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "sample"


@pytest.fixture(autouse=True)
def isolated_media(settings, tmp_path):
    """Each test writes images under its own MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def sample_dir() -> Path:
    return SAMPLE_DIR


def encode_image(size=(64, 48), color=(200, 30, 30), fmt="JPEG", mode="RGB") -> bytes:
    buffer = io.BytesIO()
    PILImage.new(mode, size, color).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def jpeg_bytes() -> bytes:
    return encode_image()


@pytest.fixture
def make_image(db):
    """Store a small generated image through the same service the API uses."""
    from muses.collection.services import image_store

    def make(image_id=None, color=(200, 30, 30), size=(64, 48), item=None):
        return image_store(
            data=encode_image(size=size, color=color), name="test.jpg", image_id=image_id, item=item
        )

    return make


def tiny_backbone_builder(weights, input_size):
    """A small deterministic CNN at 16 px: fast, and different colours give different
    features. Stands in for a real backbone where the weights do not matter."""
    import keras
    import numpy as np

    from muses.vision.backbones import Backbone

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    outputs = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, outputs)

    def preprocess(image, size):
        return np.asarray(image.convert("RGB").resize((16, 16)), dtype=np.float32) / 127.5 - 1

    return Backbone(
        name="tiny", input_size=16, feature_dim=8, weights_digest="tiny-seed0",
        model=model, preprocess_fn=preprocess,
    )


@pytest.fixture
def tiny_backbone(settings):
    """Make the tiny CNN the configured backbone for this test."""
    from muses.vision import backbones

    backbones.BACKBONES["tiny"] = (tiny_backbone_builder, 16)
    backbones.get_backbone.cache_clear()
    settings.MUSES_BACKBONE = "tiny"
    yield backbones.get_backbone("tiny")
    backbones.get_backbone.cache_clear()
    backbones.BACKBONES.pop("tiny", None)


@pytest.fixture(autouse=True)
def fresh_feature_matrices():
    """The in-process matrices outlive a test's database transaction: start each test clean."""
    from muses.vision import store

    store._matrices.clear()
    yield
    store._matrices.clear()
