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
