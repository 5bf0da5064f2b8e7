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
        name="tiny",
        input_size=16,
        feature_dim=8,
        weights_digest="tiny-seed0",
        model=model,
        preprocess_fn=preprocess,
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
def fresh_feature_index(settings, tmp_path):
    """The feature index outlives a test's database transaction: each test gets its own
    index directory and no handle of an earlier test."""
    from muses.vision.feature_index.handle import feature_indexes_close

    settings.MUSES_INDEX_DIR = tmp_path / "index"
    feature_indexes_close()
    yield settings.MUSES_INDEX_DIR
    feature_indexes_close()


# --- media on S3-compatible storage ---------------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint():
    """An S3-compatible server (moto) on 127.0.0.1, reached over HTTP as MinIO would be."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class S3Bucket:
    """The test's bucket, looked at directly with boto3 (not through Django)."""

    def __init__(self, client, name: str, endpoint: str):
        self.client, self.name, self.endpoint = client, name, endpoint

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix
        )
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=data)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.name, Key=key)


@pytest.fixture
def s3_media(settings, monkeypatch, s3_endpoint, tmp_path):
    """Media in a fresh bucket, configured from the environment exactly as production is;
    nothing may be written under MEDIA_ROOT meanwhile."""
    import uuid

    import boto3

    from muses.env import storages_from_env

    bucket = f"muses-{uuid.uuid4().hex[:12]}"
    environment = {
        "MUSES_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": "muses-test",
        "AWS_SECRET_ACCESS_KEY": "muses-test-secret",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    settings.STORAGES = storages_from_env()
    settings.MEDIA_ROOT = tmp_path / "no-local-media"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    yield S3Bucket(client, bucket, s3_endpoint)
    assert not settings.MEDIA_ROOT.exists(), "a media file went to the local filesystem"
