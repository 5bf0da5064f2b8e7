"""`muses_import --importer iiif`: manifests and collections from a IIIF server on 127.0.0.1."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from muses.collection.models import Image, Item
from tests.collection.iiif_server import (
    collection_v2,
    collection_v3,
    manifest_v2,
    manifest_v3,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.django_db

SAMPLE_IMAGES = ("MET_329767.jpg", "MET_329774.jpg", "MET_329778.jpg")
MET_METADATA_V3 = [
    {"label": {"en": ["Object Number"]}, "value": {"none": ["MET_329767"]}},
    {"label": {"en": ["Object Type"]}, "value": {"en": ["Statuette"]}},
    {"label": {"en": ["Date"]}, "value": {"en": ["Late Period (Saite)–Ptolemaic Period"]}},
    {"label": {"en": ["Medium"]}, "value": {"en": ["Cupreous metal"]}},
    {"label": {"en": ["Culture"]}, "value": {"en": ["Egyptian"]}},
]


@pytest.fixture
def server(settings, sample_dir):
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


def run_import(source, *args):
    out, err = StringIO(), StringIO()
    call_command(
        "muses_import", str(source), "--importer", "iiif", "--no-features", *args,
        stdout=out, stderr=err,
    )  # fmt: skip
    return out.getvalue(), err.getvalue()


def met_manifest_v3(server, name="bastet", **extra):
    return manifest_v3(
        server,
        name,
        [{"identifier": "MET_329767"}, {"identifier": "MET_329774"}],
        metadata=MET_METADATA_V3,
        summary={"en": ["Bastet <i>holding</i> an aegis &amp; a basket."]},
        requiredStatement={
            "label": {"en": ["Attribution"]},
            "value": {"en": ["The Metropolitan Museum of Art"]},
        },
        rights="http://creativecommons.org/publicdomain/zero/1.0/",
        label={"en": ["Bastet holding aegis and basket"]},
        **extra,
    )


def test_it_imports_a_v3_manifest_with_its_fields_and_canvases(server):
    url = server.add_json("/manifests/bastet.json", met_manifest_v3(server))
    out, err = run_import(url, "--museum", "Met Museum")
    assert "1 items created, 0 updated, 2 images added" in out and err == ""
    item = Item.objects.get()
    assert (item.museum, item.object_number) == ("Met Museum", "MET_329767")
    assert item.title == "Bastet holding aegis and basket"
    assert (item.object_type, item.medium, item.culture) == (
        "Statuette",
        "Cupreous metal",
        "Egyptian",
    )
    assert item.period == "Late Period (Saite)–Ptolemaic Period"
    assert item.description == "Bastet holding an aegis & a basket."
    assert item.license.startswith("http://creativecommons.org/publicdomain/zero/1.0/")
    assert "The Metropolitan Museum of Art" in item.license
    assert item.source_url == url
    images = item.images.order_by("iiif_canvas")
    assert [i.iiif_canvas for i in images] == [
        f"{server.base}/manifests/bastet/canvas/p1",
        f"{server.base}/manifests/bastet/canvas/p2",
    ]
    assert all(i.iiif_manifest == url and (i.width, i.height) == (224, 224) for i in images)


def test_it_asks_a_small_v3_image_at_max_and_a_small_v2_image_at_full(server):
    v3 = server.add_json(
        "/manifests/a.json", manifest_v3(server, "a", [{"identifier": "MET_329767"}])
    )
    v2 = server.add_json(
        "/manifests/b.json", manifest_v2(server, "b", [{"identifier": "MET_329774"}])
    )
    run_import(v3)
    run_import(v2)
    assert server.image_requests() == [
        "/iiif/3/MET_329767/full/max/0/default.jpg",
        "/iiif/2/MET_329774/full/full/0/default.jpg",
    ]


def test_it_asks_a_bounded_size_when_info_json_declares_a_huge_image(server, sample_dir):
    path = sample_dir / "egyptian-cc0" / "images" / "MET_329778.jpg"
    server.add_image("huge", path, declared=(200_000, 150_000))
    v3 = manifest_v3(server, "huge3", [{"identifier": "huge"}])
    v2 = manifest_v2(server, "huge2", [{"identifier": "huge"}])
    run_import(server.add_json("/manifests/huge3.json", v3))
    out, _ = run_import(server.add_json("/manifests/huge2.json", v2))
    assert server.image_requests() == [
        "/iiif/3/huge/full/!1024,1024/0/default.jpg",
        "/iiif/2/huge/full/1024,/0/default.jpg",
    ]
    assert Image.objects.count() == 2 and "1 images added" in out


def test_it_reads_a_v2_manifest_and_value_objects_in_the_chosen_language(server):
    metadata = [
        {"label": "Accession Number", "value": "MET_329774"},
        {
            "label": [
                {"@value": "Date", "@language": "en"},
                {"@value": "Datum", "@language": "nl"},
            ],
            "value": [
                {"@value": "Middle Kingdom", "@language": "en"},
                {"@value": "Middenrijk", "@language": "nl"},
            ],
        },
    ]
    manifest = manifest_v2(
        server,
        "shabti",
        [{"identifier": "MET_329774"}],
        metadata=metadata,
        label="Head and chest of a shabti figure",
        description="Steatite",
        attribution="Provided by the Met",
        license="https://creativecommons.org/publicdomain/zero/1.0/",
    )
    url = server.add_json("/manifests/shabti.json", manifest)
    run_import(url, "--museum", "Met Museum", "--language", "nl")
    item = Item.objects.get()
    assert (item.object_number, item.period, item.language) == ("MET_329774", "Middenrijk", "nl")
    assert (item.title, item.description) == ("Head and chest of a shabti figure", "Steatite")
    assert "Provided by the Met" in item.license
    assert item.images.get().iiif_canvas == f"{server.base}/manifests/shabti/canvas/p1"


def test_metadata_labels_in_another_language_still_give_the_object_number(server):
    metadata = [{"label": {"nl": ["Objectnummer"]}, "value": {"nl": ["RP-F-1"]}}]
    manifest = manifest_v3(
        server, "rijks", [{"identifier": "MET_329767"}], metadata=metadata, label={"nl": ["Foto"]}
    )
    run_import(server.add_json("/manifests/rijks.json", manifest), "--museum", "Rijksmuseum")
    assert Item.objects.get().object_number == "RP-F-1"
    assert Item.objects.get().title == "Foto"


def test_without_an_object_number_the_manifest_id_is_the_key(server):
    url = server.add_json(
        "/manifests/plain.json", manifest_v3(server, "plain", [{"identifier": "MET_329778"}])
    )
    run_import(url)
    run_import(url)
    item = Item.objects.get()
    assert item.object_number == url and item.source_url == url
    assert item.museum == "127.0.0.1"  # the manifest's host, without --museum


def test_a_second_run_fetches_nothing_and_duplicates_nothing(server):
    url = server.add_json("/manifests/bastet.json", met_manifest_v3(server))
    run_import(url)
    first = list(Image.objects.values_list("pk", flat=True))
    server.requests.clear()
    out, _ = run_import(url)
    assert "0 items created, 1 updated, 0 images added" in out
    assert server.image_requests() == [] and server.paths("/iiif/") == []
    assert list(Image.objects.values_list("pk", flat=True)) == first


def test_an_interrupted_import_resumes_with_the_missing_canvas_only(server):
    manifest = met_manifest_v3(server)
    url = server.add_json("/manifests/bastet.json", manifest)
    broken = server.add_route("/iiif/3/MET_329774/full/max/0/default.jpg", status=500, body=b"x")
    out, err = run_import(url)
    assert "1 images added" in out and "HTTP 500" in err and "(2 attempts)" in err
    del server.routes["/iiif/3/MET_329774/full/max/0/default.jpg"]
    server.requests.clear()
    out, _ = run_import(url)
    assert "1 images added" in out
    assert server.image_requests() == [broken.removeprefix(server.base)]
    assert Image.objects.count() == 2


def test_it_retries_a_busy_server_with_back_off(server):
    url = server.add_json(
        "/manifests/a.json", manifest_v3(server, "a", [{"identifier": "MET_329767"}])
    )
    path = "/iiif/3/MET_329767/full/max/0/default.jpg"
    image = server.answer(path)
    image.fail_times = 1  # 503 once, then the image
    server.routes[path] = image
    out, err = run_import(url)
    assert "1 images added" in out and err == ""
    assert server.image_requests().count(path) == 2


def test_each_failing_image_is_one_clear_line_and_the_rest_imports(server, settings):
    settings.MUSES_MAX_UPLOAD_BYTES = 100_000
    html = server.add_route("/pages/p1.html", content_type="text/html", body=b"<html>hi</html>")
    junk = server.add_route("/junk.jpg", content_type="image/jpeg", body=b"not a jpeg at all")
    big = server.add_route("/big.jpg", content_type="image/jpeg", body=b"\xff" * 200_000)
    canvases = [
        {"identifier": "MET_329767"},
        {"identifier": "missing"},
        {"url": html},
        {"url": junk},
        {"url": big},
    ]
    url = server.add_json("/manifests/mixed.json", manifest_v3(server, "mixed", canvases))
    out, err = run_import(url)
    assert "1 items created, 0 updated, 1 images added, 0 rows skipped, 4 images failed" in out
    lines = err.strip().splitlines()
    assert len(lines) == 4
    assert all(line.startswith(f"{url}: image not imported: canvas ") for line in lines)
    assert "/iiif/3/missing/full/!1024,1024/0/default.jpg: HTTP 404 Not Found" in lines[0]
    assert "wrong content type text/html (expected an image)" in lines[1]
    assert "/junk.jpg: not an image" in lines[2]
    assert "/big.jpg: too large (200,000 bytes, the limit is 100,000)" in lines[3]


def test_a_stalling_server_times_out_within_the_limit(server, settings):
    settings.MUSES_IIIF_TIMEOUT = 0.3
    url = server.add_json(
        "/manifests/a.json", manifest_v3(server, "a", [{"identifier": "MET_329767"}])
    )
    server.add_route("/iiif/3/MET_329767/info.json", stall=30)
    out, err = run_import(url)
    assert "no answer within 0.3 s (2 attempts)" in err and "0 images added" in out
    assert server.image_requests() == []  # a server that does not answer is not asked twice


def test_a_manifest_without_items_and_invalid_json_are_reported_and_the_rest_imports(server):
    empty = manifest_v3(server, "empty", [])
    good = manifest_v3(server, "good", [{"identifier": "MET_329767"}])
    collection = collection_v3(
        server,
        "mixed",
        [
            ("Manifest", server.add_json("/manifests/empty.json", empty)),
            ("Manifest", server.add_route("/manifests/broken.json", body=b'{"id": "x", "type": ')),
            ("Manifest", server.add_json("/manifests/good.json", good)),
        ],
    )
    out, err = run_import(server.add_json("/collections/mixed.json", collection))
    assert "1 items created" in out and "2 rows skipped" in out
    assert f"{server.base}/manifests/empty.json: skipped: the manifest has no canvases" in err
    assert f"{server.base}/manifests/broken.json: skipped: invalid JSON: Expecting value" in err


def test_it_follows_nested_v2_and_v3_collections(server):
    a = server.add_json(
        "/manifests/a.json", manifest_v2(server, "a", [{"identifier": "MET_329767"}])
    )
    b = server.add_json(
        "/manifests/b.json", manifest_v3(server, "b", [{"identifier": "MET_329774"}])
    )
    inner = server.add_json(
        "/collections/inner.json", collection_v3(server, "inner", [("Manifest", b)])
    )
    top = server.add_json("/collections/top.json", collection_v2(server, "top", [a], [inner]))
    out, err = run_import(top)
    assert "2 items created" in out and "2 images added" in out and err == ""
    assert set(Item.objects.values_list("source_url", flat=True)) == {a, b}


def test_a_collection_that_refers_to_itself_is_read_once(server):
    a = server.add_json(
        "/manifests/a.json", manifest_v3(server, "a", [{"identifier": "MET_329767"}])
    )
    top = f"{server.base}/collections/loop.json"
    server.add_json(
        "/collections/loop.json",
        collection_v3(server, "loop", [("Collection", top), ("Manifest", a)]),
    )
    out, err = run_import(top)
    assert "1 items created" in out
    assert f"lists the collection {top} again (a cycle): not followed" in err
    assert server.paths("/collections/").count("/collections/loop.json") == 1


def test_collections_stop_at_the_manifest_limit(server, settings):
    settings.MUSES_IIIF_MAX_MANIFESTS = 1
    a = server.add_json(
        "/manifests/a.json", manifest_v3(server, "a", [{"identifier": "MET_329767"}])
    )
    b = server.add_json(
        "/manifests/b.json", manifest_v3(server, "b", [{"identifier": "MET_329774"}])
    )
    top = server.add_json(
        "/collections/c.json", collection_v3(server, "c", [("Manifest", a), ("Manifest", b)])
    )
    out, err = run_import(top)
    assert "1 items created" in out and "more than 1 manifests (MUSES_IIIF_MAX_MANIFESTS)" in err
    assert "/manifests/b.json" not in server.paths()


def test_it_never_contacts_a_host_the_manifest_does_not_name(server):
    elsewhere = (
        server.base.replace("127.0.0.1", "localhost") + "/iiif/3/MET_329774/full/max/0/default.jpg"
    )
    server.add_route("/moved.jpg", status=302, location=elsewhere, content_type="text/plain")
    canvases = [{"url": f"{server.base}/moved.jpg"}, {"url": "file:///etc/passwd"}]
    url = server.add_json("/manifests/sneaky.json", manifest_v3(server, "sneaky", canvases))
    out, err = run_import(url)
    assert f"redirected to {elsewhere}, a host the source does not name" in err
    assert "file:///etc/passwd: only http and https URLs are fetched" in err
    assert [host for host, _ in server.requests if not host.startswith("127.0.0.1")] == []
    assert Image.objects.count() == 0


def test_an_identifier_that_is_not_ascii_is_percent_encoded(server, sample_dir):
    server.add_image("statuette café", sample_dir / "egyptian-cc0" / "images" / "MET_329767.jpg")
    manifest = manifest_v3(server, "cafe", [{"identifier": "statuette café"}])
    out, err = run_import(server.add_json("/manifests/cafe.json", manifest))
    assert "1 images added" in out and err == ""
    assert server.image_requests() == ["/iiif/3/statuette café/full/max/0/default.jpg"]


def test_a_server_that_only_says_octet_stream_is_judged_by_the_bytes(server, sample_dir):
    jpeg = (sample_dir / "egyptian-cc0" / "images" / "MET_329774.jpg").read_bytes()
    plain = server.add_route("/plain.jpg", content_type="application/octet-stream", body=jpeg)
    manifest = manifest_v3(server, "plain", [{"url": plain}])
    out, err = run_import(server.add_json("/manifests/plain.json", manifest))
    assert "1 images added" in out and err == ""


def test_it_reads_a_manifest_from_a_file(server, tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(met_manifest_v3(server)))
    out, _ = run_import(path)
    assert "1 items created, 0 updated, 2 images added" in out


def test_nothing_importable_is_an_error_and_changes_nothing(server, tmp_path, make_image):
    kept = make_image(image_id="kept")
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(CommandError, match="nothing could be imported"):
        run_import(path)
    assert list(Image.objects.values_list("image_id", flat=True)) == [kept.image_id]


def test_the_csv_importer_refuses_a_url():
    with pytest.raises(CommandError, match="the csv importer reads files, not URLs"):
        call_command("muses_import", "http://127.0.0.1:9/collection.csv", "--no-features")
