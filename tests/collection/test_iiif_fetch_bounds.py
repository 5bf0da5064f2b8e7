"""The IIIF importer's outside fetches are bounded: a wall-clock deadline per attempt
(MUSES_IIIF_TIMEOUT) that a trickling server cannot stretch, and no private, loopback or
link-local address unless MUSES_IIIF_ALLOW_PRIVATE=1."""

import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from muses.collection.fetch import Fetcher, FetchError
from tests.collection.iiif_server import collection_v3, manifest_v3, run_import

pytestmark = pytest.mark.django_db


def import_failing(url) -> str:
    """The import of a source from which nothing could be imported: what it printed."""
    err = StringIO()
    with pytest.raises(CommandError, match="nothing could be imported"):
        call_command(
            "muses_import", url, "--importer", "iiif", "--no-features",
            stdout=StringIO(), stderr=err,
        )  # fmt: skip
    return err.getvalue()


@pytest.fixture
def short_deadline(settings):
    settings.MUSES_IIIF_TIMEOUT = 0.6
    settings.MUSES_IIIF_RETRIES = 1


def test_a_server_trickling_an_image_is_cut_off_at_the_deadline(server, short_deadline):
    # Content-Length 100000, then one byte every 50 ms: each read gets a byte in time
    slow = server.add_route(
        "/slow.jpg", content_type="image/jpeg", body=b"\xff" * 100_000, trickle=0.05, trickle_for=4
    )
    url = server.add_json("/manifests/a.json", manifest_v3(server, "a", [{"url": slow}]))
    started = time.monotonic()
    out, err = run_import(url)
    took = time.monotonic() - started
    assert "/slow.jpg: the download took longer than 0.6 s (1 attempt)" in err, err
    assert "0 images added" in out and "1 images failed" in out
    assert took < 3  # not the 4 s the server would have trickled for


def test_a_server_trickling_a_manifest_is_cut_off_at_the_deadline(server, short_deadline):
    document = manifest_v3(server, "a", [{"identifier": "MET_329767"}])
    url = server.add_json("/manifests/a.json", document)
    server.routes["/manifests/a.json"].trickle = 0.05
    server.routes["/manifests/a.json"].trickle_for = 4
    started = time.monotonic()
    err = import_failing(url)
    took = time.monotonic() - started
    assert "/manifests/a.json: the download took longer than 0.6 s (1 attempt)" in err, err
    assert took < 3  # not the 4 s the server would have trickled for
    assert server.image_requests() == []


def test_a_loopback_server_is_refused_unless_private_addresses_are_allowed(server, settings):
    settings.MUSES_IIIF_ALLOW_PRIVATE = False
    url = server.add_json(
        "/manifests/a.json", manifest_v3(server, "a", [{"identifier": "MET_329767"}])
    )
    err = import_failing(url)
    assert "127.0.0.1, a private, loopback or link-local address: not contacted" in err, err
    assert "set MUSES_IIIF_ALLOW_PRIVATE=1" in err
    assert server.requests == []  # nothing reached the server
    settings.MUSES_IIIF_ALLOW_PRIVATE = True
    out, err = run_import(url)
    assert "1 items created" in out and "1 images added" in out


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/manifest.json",
        "http://192.168.0.10:8182/iiif/2/a/info.json",
        "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
        "http://[::1]/manifest.json",
        "http://[::ffff:127.0.0.1]/manifest.json",
        "http://[fe80::1]/manifest.json",
        "http://0.0.0.0/manifest.json",
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(url):
    fetcher = Fetcher(timeout=1, retries=1, backoff=0)
    fetcher.allow(url)
    with pytest.raises(FetchError, match="MUSES_IIIF_ALLOW_PRIVATE=1"):
        fetcher.get(url, max_bytes=1000)


def test_a_downloaded_image_over_the_pixel_limit_of_uploads_is_refused_as_such(server, settings):
    settings.MUSES_MAX_IMAGE_PIXELS = 100 * 100
    url = server.add_json(
        "/manifests/a.json", manifest_v3(server, "a", [{"identifier": "MET_329767"}])
    )
    out, err = run_import(url)
    assert "0 images added" in out and "1 images failed" in out
    assert "the image has too many pixels (" in err and "MUSES_MAX_IMAGE_PIXELS" in err, err
    assert "corrupt" not in err


def test_a_manifest_nested_100k_deep_is_reported_and_the_rest_imports(server):
    deep = server.add_route("/manifests/deep.json", body=b"[" * 100_000 + b"]" * 100_000)
    good = server.add_json(
        "/manifests/good.json", manifest_v3(server, "good", [{"identifier": "MET_329767"}])
    )
    url = server.add_json(
        "/collections/c.json",
        collection_v3(server, "c", [("Manifest", deep), ("Manifest", good)]),
    )
    out, err = run_import(url)
    assert f"{deep}: skipped: invalid JSON: the JSON is nested deeper than 100 levels" in err
    assert "1 items created" in out and "1 images added" in out
