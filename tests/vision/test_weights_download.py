"""The VGG19 weights download, the one fetch MUSES makes by itself, is bounded by a
wall-clock deadline (MUSES_DOWNLOAD_DEADLINE): a trickling server fails it with the
message saying where to place the file."""

import time

import pytest

from muses.vision import backbones
from tests.collection.iiif_server import start_server, stop_server


@pytest.fixture
def weights_server():
    state, httpd, thread = start_server()
    yield state
    stop_server(state, httpd, thread)


def test_a_trickling_weights_download_fails_at_the_deadline(
    weights_server, settings, monkeypatch, tmp_path
):
    url = weights_server.add_route(
        "/vgg19.h5", content_type="application/octet-stream", body=b"\x00" * 100_000,
        trickle=0.05, trickle_for=5,
    )  # fmt: skip
    monkeypatch.setattr(backbones, "VGG19_WEIGHTS_URL", url)
    settings.MUSES_DOWNLOAD_TIMEOUT = 2.0  # each read gets a byte in time
    settings.MUSES_DOWNLOAD_DEADLINE = 0.8
    target = tmp_path / "weights.h5"
    started = time.monotonic()
    with pytest.raises(backbones.BackboneUnavailable, match="took longer than 0.8 s") as info:
        backbones._download_vgg19_weights(target)
    assert time.monotonic() - started < 3  # not the 5 s the server trickles for
    assert "MUSES_WEIGHTS_DIR" in str(info.value)
    assert not target.exists() and not target.with_suffix(".part").exists()


def test_a_complete_weights_download_is_stored(weights_server, settings, monkeypatch, tmp_path):
    url = weights_server.add_route("/vgg19.h5", content_type="application/x-hdf5", body=b"h5" * 10)
    monkeypatch.setattr(backbones, "VGG19_WEIGHTS_URL", url)
    target = tmp_path / "weights.h5"
    assert backbones._download_vgg19_weights(target) == target
    assert target.read_bytes() == b"h5" * 10
