"""Reading IIIF Presentation documents and building Image API requests (no network)."""

from muses.collection import iiif, iiif_fields, iiif_image, iiif_painted

SERVICE = "https://images.example.org/iiif/3/abc"


def v3_manifest(body, motivation="painting"):
    return {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": "https://example.org/m.json",
        "type": "Manifest",
        "label": {"en": ["Jar"]},
        "items": [
            {
                "id": "https://example.org/canvas/1",
                "type": "Canvas",
                "items": [
                    {
                        "type": "AnnotationPage",
                        "items": [{"type": "Annotation", "motivation": motivation, "body": body}],
                    }
                ],
            }
        ],
    }


def test_language_maps_give_the_asked_language_then_english_then_none():
    label = {"fr": ["Vase"], "en": ["Jar"], "none": ["J-1"]}
    assert iiif_fields.text(label, "fr") == "Vase"
    assert iiif_fields.text(label, "de") == "Jar"
    assert iiif_fields.text({"none": ["J-1"], "fr": ["Vase"]}) == "J-1"
    assert iiif_fields.text({"ar": ["جرة"]}) == "جرة"


def test_html_in_values_becomes_plain_text():
    assert iiif_fields.text({"en": ["<p>Gift of <b>A. Smith</b> &amp; family</p>"]}) == (
        "Gift of A. Smith & family"
    )


def test_a_choice_body_gives_its_first_option():
    body = {
        "type": "Choice",
        "items": [
            {"id": "https://example.org/natural.jpg", "type": "Image"},
            {"id": "https://example.org/xray.jpg", "type": "Image"},
        ],
    }
    (canvas,) = iiif.manifest_record(v3_manifest(body)).canvases
    assert canvas.url == "https://example.org/natural.jpg" and canvas.service_id == ""


def test_only_painting_annotations_give_images():
    body = {"id": "https://example.org/transcript.jpg", "type": "Image"}
    record = iiif.manifest_record(v3_manifest(body, motivation="supplementing"))
    assert record.objects == []
    assert record.notes == ["canvas https://example.org/canvas/1: skipped: it paints no image"]


def test_a_service_is_recognised_by_its_type_context_or_profile():
    for service, version in [
        ({"id": SERVICE, "type": "ImageService3"}, 3),
        ({"@id": SERVICE, "@type": "ImageService2", "profile": "level1"}, 2),
        ({"@id": SERVICE, "@context": "http://iiif.io/api/image/2/context.json"}, 2),
        ({"@id": SERVICE, "profile": "http://library.stanford.edu/iiif/image-api/1.1/"}, 0),
        ({"@id": SERVICE, "profile": "http://iiif.io/api/image/1/level1.json"}, 1),
    ]:
        body = {"id": "https://example.org/full.jpg", "type": "Image", "service": [service]}
        (canvas,) = iiif.manifest_record(v3_manifest(body)).canvases
        assert (canvas.service_version if canvas.service_id else 0) == version, service


def test_the_size_asked_follows_the_version_and_the_servers_limits():
    v3 = iiif_painted.CanvasImage("c", "", SERVICE, 3)
    v2 = iiif_painted.CanvasImage("c", "", SERVICE, 2)
    v1 = iiif_painted.CanvasImage("c", "", SERVICE, 1)
    assert iiif_image.image_request_url(v3) == f"{SERVICE}/full/!1024,1024/0/default.jpg"
    assert iiif_image.image_request_url(v3, {"width": 800, "height": 600}) == (
        f"{SERVICE}/full/max/0/default.jpg"
    )
    assert iiif_image.image_request_url(v3, {"width": 9000, "height": 9000, "maxWidth": 512}) == (
        f"{SERVICE}/full/!512,512/0/default.jpg"
    )
    assert iiif_image.image_request_url(v2, {"width": 4000, "height": 3000}) == (
        f"{SERVICE}/full/1024,/0/default.jpg"
    )
    assert iiif_image.image_request_url(v1, {"width": 300, "height": 300}) == (
        f"{SERVICE}/full/full/0/native.jpg"
    )


def test_a_long_manifest_id_becomes_a_digest_key():
    manifest = v3_manifest({"id": "https://example.org/a.jpg", "type": "Image"})
    manifest["id"] = "https://example.org/" + "x" * 300
    record = iiif.manifest_record(manifest)
    assert record.fields["object_number"].startswith("iiif-")
    assert len(record.fields["object_number"]) <= 200


def test_a_selection_reads_image_api_and_xywh_fragment_selectors():
    assert iiif_painted.selection(
        {"type": "ImageApiSelector", "region": "1,2,3,4", "rotation": "90"}
    ) == (
        "1,2,3,4",
        "90",
    )
    assert iiif_painted.selection(
        [{"type": "FragmentSelector", "value": "xywh=percent:0,0,50,50"}]
    ) == (
        "pct:0,0,50,50",
        "",
    )
    assert iiif_painted.selection(
        {"type": "FragmentSelector", "value": "xywh=pixel:5,5,10,10"}
    ) == (
        "5,5,10,10",
        "",
    )
    assert iiif_painted.selection(
        {"type": "ImageApiSelector", "region": "full", "rotation": 0}
    ) == ("", "")


def test_a_service_level_is_read_from_a_name_a_uri_or_a_list_with_an_object():
    assert iiif_painted.service_level("level0") == 0
    assert iiif_painted.service_level("http://iiif.io/api/image/2/level2.json") == 2
    assert (
        iiif_painted.service_level(["http://iiif.io/api/image/2/level1.json", {"supports": []}])
        == 1
    )
    assert iiif_painted.service_level("http://example.org/custom-profile") == -1


def test_a_large_region_is_asked_bounded_and_a_small_one_whole():
    v3 = iiif_painted.CanvasImage("c", "", SERVICE, 3, 2, region="0,0,4000,3000")
    v2 = iiif_painted.CanvasImage("c", "", SERVICE, 2, 2, region="0,0,400,300", rotation="90")
    assert iiif_image.image_request_url(v3) == f"{SERVICE}/0,0,4000,3000/!1024,1024/0/default.jpg"
    assert iiif_image.image_request_url(v2) == f"{SERVICE}/0,0,400,300/full/90/default.jpg"


def test_a_result_manifest_names_a_v2_service_as_v2_viewers_read_it():
    v2 = iiif_painted.CanvasImage(
        "c1", "https://museum.example/iiif/a/full/full/0/default.jpg",
        service_id="https://museum.example/iiif/a", service_version=2, service_level=1,
    )  # fmt: skip
    (service,) = iiif_image.published_body(v2, None)["service"]
    assert service == {
        "@id": "https://museum.example/iiif/a",
        "@type": "ImageService2",
        "profile": "http://iiif.io/api/image/2/level1.json",
    }
    v3 = iiif_painted.CanvasImage(
        "c2", "", service_id="https://museum.example/iiif3/b", service_version=3
    )
    (service,) = iiif_image.published_body(v3, None)["service"]
    assert service["id"] == "https://museum.example/iiif3/b"
    assert service["type"] == "ImageService3" and service["profile"] == "level1"
