"""`muses_import --importer iiif`: canvases that carry an object number of their own are
objects of their own (IIIF's "metadata anywhere"), in 3.0 and 2.1."""

import pytest

from muses.collection.models import Image, Item
from tests.collection.iiif_server import manifest_v2, manifest_v3, run_import

pytestmark = pytest.mark.django_db

SHERDS = ["MET_329767", "MET_329774", "MET_329778", "MET_329767", "MET_329774"]


def sherd_v3(n: int, identifier: str) -> dict:
    return {
        "identifier": identifier,
        "label": {"en": [f"Sherd {n}"]},
        "metadata": [
            {"label": {"en": ["Object Number"]}, "value": {"none": [f"1921.{n}"]}},
            {"label": {"en": ["Classification"]}, "value": {"en": ["Ceramics"]}},
        ],
    }


def box_of_sherds(server) -> str:
    canvases = [sherd_v3(n, identifier) for n, identifier in enumerate(SHERDS, start=1)]
    manifest = manifest_v3(
        server,
        "box",
        canvases,
        metadata=[{"label": {"en": ["Object Number"]}, "value": {"none": ["1921.BOX"]}}],
        label={"en": ["A box of sherds"]},
    )
    return server.add_json("/manifests/box.json", manifest)


def test_canvases_with_their_own_object_numbers_import_as_items_with_their_titles(server):
    out, err = run_import(box_of_sherds(server), "--museum", "Met")
    assert "5 items created, 0 updated, 5 images added" in out and err == ""
    items = Item.objects.order_by("object_number")
    assert [(i.object_number, i.title, i.object_type) for i in items] == [
        (f"1921.{n}", f"Sherd {n}", "Ceramics") for n in range(1, 6)
    ]
    for item in items:
        (image,) = item.images.all()
        assert image.iiif_canvas.endswith(f"/canvas/p{item.object_number.split('.')[1]}")


def test_a_second_import_of_canvas_objects_duplicates_nothing(server):
    url = box_of_sherds(server)
    run_import(url)
    server.requests.clear()
    out, _ = run_import(url)
    assert "0 items created, 5 updated, 0 images added" in out
    assert server.image_requests() == []
    assert (Item.objects.count(), Image.objects.count()) == (5, 5)


def test_v2_canvas_metadata_in_several_languages_gives_objects_too(server):
    def page(n, identifier):
        return {
            "identifier": identifier,
            "label": f"Folio {n}",
            "metadata": [
                {
                    "label": [
                        {"@value": "Inventarisnummer", "@language": "nl"},
                        {"@value": "Inventory number", "@language": "en"},
                    ],
                    "value": f"RP-F-{n}",
                }
            ],
        }

    album = manifest_v2(server, "album", [page(1, "MET_329767"), page(2, "MET_329774")])
    out, _ = run_import(server.add_json("/manifests/album.json", album))
    assert "2 items created, 0 updated, 2 images added" in out
    assert sorted(Item.objects.values_list("object_number", "title")) == [
        ("RP-F-1", "Folio 1"),
        ("RP-F-2", "Folio 2"),
    ]


def test_canvases_without_a_number_stay_views_of_the_manifests_object(server):
    canvases = [
        sherd_v3(1, "MET_329767"),
        {"identifier": "MET_329774", "label": {"en": ["Detail"]}, "metadata": []},
        {"identifier": "MET_329778"},
    ]
    manifest = manifest_v3(
        server,
        "mixed",
        canvases,
        metadata=[{"label": {"en": ["Object Number"]}, "value": {"none": ["1921.BOX"]}}],
        label={"en": ["A box of sherds"]},
    )
    out, _ = run_import(server.add_json("/manifests/mixed.json", manifest))
    assert "2 items created, 0 updated, 3 images added" in out
    box = Item.objects.get(object_number="1921.BOX")
    assert box.title == "A box of sherds" and box.images.count() == 2
    assert Item.objects.get(object_number="1921.1").images.count() == 1


def test_two_canvases_with_one_number_are_two_views_of_one_object(server):
    def side(identifier, label):
        return {
            "identifier": identifier,
            "label": {"en": [label]},
            "metadata": [{"label": {"en": ["Accession number"]}, "value": {"none": ["C-7"]}}],
        }

    coin = manifest_v3(
        server, "coins", [side("MET_329767", "Coin, obverse"), side("MET_329774", "reverse")]
    )
    out, _ = run_import(server.add_json("/manifests/coins.json", coin))
    assert "1 items created, 0 updated, 2 images added" in out
    item = Item.objects.get()
    assert (item.object_number, item.title, item.images.count()) == ("C-7", "Coin, obverse", 2)


def test_a_canvas_rights_statement_and_homepage_win_over_the_manifests(server):
    canvas = {
        **sherd_v3(1, "MET_329767"),
        "rights": "http://rightsstatements.org/vocab/InC/1.0/",
        "requiredStatement": {"label": {"en": ["Credit"]}, "value": {"en": ["Gift of A. Smith"]}},
        "homepage": [{"id": "https://museum.example/objects/1921.1", "type": "Text"}],
    }
    manifest = manifest_v3(
        server, "rights", [canvas], rights="http://creativecommons.org/publicdomain/zero/1.0/"
    )
    run_import(server.add_json("/manifests/rights.json", manifest))
    item = Item.objects.get()
    assert item.license == "http://rightsstatements.org/vocab/InC/1.0/ — Gift of A. Smith"
    assert item.source_url == "https://museum.example/objects/1921.1"


def test_images_imported_before_their_canvas_had_a_number_move_to_its_object(server):
    plain = manifest_v3(server, "box", [{"identifier": i} for i in SHERDS[:2]])
    url = server.add_json("/manifests/box.json", plain)
    run_import(url)
    assert Item.objects.count() == 1
    server.add_json(
        "/manifests/box.json",
        manifest_v3(server, "box", [sherd_v3(1, SHERDS[0]), {"identifier": SHERDS[1]}]),
    )
    server.requests.clear()
    out, _ = run_import(url)
    assert "1 items created, 1 updated, 0 images added" in out
    assert server.image_requests() == []  # moved, not fetched again
    assert Item.objects.get(object_number="1921.1").images.count() == 1
    assert Image.objects.count() == 2


def test_a_canvas_homepage_that_is_not_a_web_page_is_not_the_source(server):
    canvas = {
        **sherd_v3(1, "MET_329767"),
        "homepage": [{"id": "javascript:alert(1)", "type": "Text"}],
        "seeAlso": [{"id": "https://museum.example/data/1921.1.json", "type": "Dataset"}],
    }
    run_import(server.add_json("/manifests/js.json", manifest_v3(server, "js", [canvas])))
    assert Item.objects.get().source_url == "https://museum.example/data/1921.1.json"
