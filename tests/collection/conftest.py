import pytest

from tests.collection.iiif_server import start_server, stop_server

SAMPLE_IMAGES = ("MET_329767.jpg", "MET_329774.jpg", "MET_329778.jpg")


@pytest.fixture
def server(settings, sample_dir):
    """The local IIIF server, serving three sample photographs at level 1."""
    settings.MUSES_IIIF_TIMEOUT = 2.0
    settings.MUSES_IIIF_RETRIES = 2
    settings.MUSES_IIIF_BACKOFF = 0.01
    settings.MUSES_IIIF_WORKERS = 3
    settings.MUSES_IIIF_ALLOW_PRIVATE = True  # the test server is on 127.0.0.1
    state, httpd, thread = start_server()
    for name in SAMPLE_IMAGES:
        state.add_image(name.removesuffix(".jpg"), sample_dir / "egyptian-cc0" / "images" / name)
    yield state
    stop_server(state, httpd, thread)
