"""Fixtures for custom tagging: a numpy stand-in backbone (no TensorFlow, no weights),
authenticated API clients, stored images of distinct colours and a trained tag."""

import re
from urllib.parse import quote

import numpy as np
import pytest
from PIL import Image as PILImage
from rest_framework.test import APIClient

from tests.conftest import encode_image

TINY_NAME = "tiny_tagging"
TINY_INPUT = 32
TINY_DIM = 64
GRID = 4

RED = (210, 30, 30)
BLUE = (30, 40, 210)
GREEN = (30, 190, 40)


class NumpyBackbone:
    """Backbone-compatible: 4x4 grid colour means through a fixed random ReLU projection.
    Deterministic, and different colours give clearly different features."""

    name = TINY_NAME
    input_size = TINY_INPUT
    feature_dim = TINY_DIM
    weights_digest = "tiny-tagging-v1"
    # What the feature store records for its vectors: exact fp32 arithmetic.
    numerics = ("tensorflow", "fp32")

    def __init__(self):
        rng = np.random.default_rng(0)
        self._projection = rng.normal(0, 1, (GRID * GRID * 3, TINY_DIM)).astype(np.float32)
        self._bias = rng.normal(0, 0.5, TINY_DIM).astype(np.float32)
        self.head = (
            rng.normal(0, 0.3, (TINY_DIM, 1000)).astype(np.float32),
            np.zeros(1000, np.float32),
        )

    def preprocess(self, image: PILImage.Image) -> np.ndarray:
        resized = image.convert("RGB").resize((TINY_INPUT, TINY_INPUT), PILImage.BILINEAR)
        return np.asarray(resized, dtype=np.float32) / 255.0

    def extract(self, batch: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
        batch = np.asarray(batch, np.float32)
        cells = batch.reshape(len(batch), GRID, TINY_INPUT // GRID, GRID, TINY_INPUT // GRID, 3)
        means = cells.mean(axis=(2, 4)).reshape(len(batch), -1)
        return np.maximum(means @ self._projection + self._bias, 0).astype(np.float32)

    def decode(self, source, *, name: str = ""):
        from muses.vision.backbones import Backbone

        return Backbone.decode(self, source, name=name)

    def pixels(self, source, *, name: str = "") -> np.ndarray:
        return self.preprocess(self.decode(source, name=name).image)

    def keywords(self, features: np.ndarray, *, top: int = 5):
        from muses.vision.backbones import Backbone

        return Backbone.keywords(self, features, top=top)


_TINY = NumpyBackbone()


def build_tiny(weights, input_size):
    return _TINY  # one instance: the dynamic batcher keeps one thread per backbone


@pytest.fixture(autouse=True)
def tagging_backbone(settings):
    """Every custom-tagging test runs on the numpy backbone unless it says otherwise."""
    from muses.vision import backbones

    backbones.BACKBONES[TINY_NAME] = (build_tiny, TINY_INPUT)
    backbones.get_backbone.cache_clear()
    settings.MUSES_BACKBONE = TINY_NAME
    settings.MUSES_API_OPEN = False
    yield _TINY
    backbones.get_backbone.cache_clear()
    backbones.BACKBONES.pop(TINY_NAME, None)


@pytest.fixture(autouse=True)
def fresh_throttles():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def user(db, django_user_model):
    """A curator: in the group the migration creates, so it may label and curate."""
    from django.contrib.auth.models import Group

    curator = django_user_model.objects.create_user(username="curator", password="pw")
    curator.groups.add(Group.objects.get(name="Curators"))
    return curator


@pytest.fixture
def api(user):
    """An API client authenticated with a DRF token."""
    from rest_framework.authtoken.models import Token

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def anonymous(db):
    return APIClient()


def shade(color, index: int) -> tuple[int, int, int]:
    """A slightly different shade of a colour, so examples are not identical."""
    return tuple(int(min(255, max(0, c + ((index * 7) % 25) - 12))) for c in color)


@pytest.fixture
def add_image(api):
    """Upload an image through the seed's endpoint; returns its image_id."""

    def add(image_id=None, color=RED, size=(40, 40)):
        url = "/system/database/image/add" + (f"?image_id={image_id}" if image_id else "")
        response = api.post(url, {"data": _upload(color, size)}, format="multipart")
        assert response.status_code == 201, response.content
        return response.json()["image_id"]

    return add


def _upload(color, size=(40, 40)):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("img.jpg", encode_image(size=size, color=color), "image/jpeg")


@pytest.fixture
def upload():
    return _upload


@pytest.fixture
def labelled_tag(api, add_image):
    """Tag 'red' with 6 red positives and 6 blue/green negatives (not trained)."""

    def make(tag="red", positives=6, negatives=6):
        prefix = re.sub(r"[^A-Za-z0-9_-]", "_", tag)
        for i in range(positives):
            image_id = add_image(f"{prefix}-pos-{i}", shade(RED, i))
            api.get(f"/custom/assign/{image_id}/positive/{quote(tag)}")
        for i in range(negatives):
            image_id = add_image(f"{prefix}-neg-{i}", shade(BLUE if i % 2 else GREEN, i))
            api.get(f"/custom/assign/{image_id}/negative/{quote(tag)}")
        return tag

    return make


@pytest.fixture
def trained_tag(api, labelled_tag):
    """Tag 'red', labelled and trained (django-q2 runs in sync mode in tests)."""

    def make(tag="red", positives=6, negatives=6):
        labelled_tag(tag, positives, negatives)
        response = api.get(f"/custom/train/{quote(tag)}")
        assert response.status_code == 202, response.content
        status = api.get(f"/status/{response.json()['task_id']}").json()
        assert status["state"] == "success", status
        return tag

    return make
