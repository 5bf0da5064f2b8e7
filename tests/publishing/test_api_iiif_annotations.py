"""GET /api/iiif/annotations/<image_id> and /api/iiif/annotations?museum=&object_number=:
tags and naive classes as W3C Web Annotation pages."""

from muses.collection.models import Image
from muses.vision.models import ImageFeature
from tests.custom_tagging.conftest import BLUE, RED

CANVAS = "https://iiif.example.org/manifests/bastet/canvas/p1"
MANIFEST = "https://iiif.example.org/manifests/bastet.json"


def annotations(page, motivation):
    return [a for a in page["items"] if a["motivation"] == motivation]


def test_a_predicted_tag_is_a_tagging_annotation_with_score_and_version(
    api, trained_tag, add_image
):
    trained_tag("red")
    image_id = add_image("new-red", RED)
    response = api.get(f"/api/iiif/annotations/{image_id}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/ld+json")
    page = response.json()
    assert page["type"] == "AnnotationPage"
    assert page["id"] == f"http://testserver/api/iiif/annotations/{image_id}"
    assert page["@context"][0] == "http://www.w3.org/ns/anno.jsonld"
    assert page["@context"][-1] == "http://iiif.io/api/presentation/3/context.json"
    (tag,) = annotations(page, "tagging")
    assert tag["type"] == "Annotation"
    assert tag["id"] == f"http://testserver/api/iiif/annotations/{image_id}#tagging-red"
    body = tag["body"]
    assert (body["type"], body["value"], body["purpose"]) == ("TextualBody", "red", "tagging")
    assert body["version"] == 1 and body["score"] >= body["threshold"]
    image = Image.objects.get(image_id=image_id)
    assert tag["target"] == {
        "id": f"http://testserver{image.file.url}",
        "type": "Image",
        "format": "image/jpeg",
    }


def test_a_tag_the_image_does_not_show_is_left_out(api, trained_tag, add_image):
    trained_tag("red")
    image_id = add_image("new-blue", BLUE)
    assert annotations(api.get(f"/api/iiif/annotations/{image_id}").json(), "tagging") == []


def test_an_image_from_iiif_is_annotated_on_its_canvas(api, trained_tag, add_image):
    trained_tag("red")
    image_id = add_image("from-iiif", RED)
    Image.objects.filter(image_id=image_id).update(iiif_canvas=CANVAS, iiif_manifest=MANIFEST)
    (tag,) = annotations(api.get(f"/api/iiif/annotations/{image_id}").json(), "tagging")
    assert tag["target"] == {
        "id": CANVAS,
        "type": "Canvas",
        "partOf": [{"id": MANIFEST, "type": "Manifest"}],
    }


def test_the_naive_class_is_a_classifying_annotation(api, add_image):
    image_id = add_image("jar", BLUE)
    Image.objects.filter(image_id=image_id).update(
        predicted_class="vessel", predicted_probability=0.87654
    )
    (annotation,) = api.get(f"/api/iiif/annotations/{image_id}").json()["items"]
    assert annotation["motivation"] == "classifying"
    assert annotation["body"]["value"] == "vessel" and annotation["body"]["score"] == 0.8765
    assert annotation["body"]["purpose"] == "classifying"


def test_an_image_without_stored_features_gets_no_tags_and_nothing_is_computed(
    api, trained_tag, make_image
):
    trained_tag("red")
    image = make_image(image_id="imported", color=RED)
    before = ImageFeature.objects.count()
    page = api.get("/api/iiif/annotations/imported").json()
    assert page["items"] == [] and ImageFeature.objects.count() == before
    assert image.features.count() == 0


def test_an_item_page_holds_the_annotations_of_all_its_images(
    api, trained_tag, add_image, museum_object
):
    trained_tag("red")
    add_image("front", RED)
    add_image("back", RED)
    museum_object("09.180.1", "front", "back")
    response = api.get(
        "/api/iiif/annotations", {"museum": "Met Museum", "object_number": "09.180.1"}
    )
    assert response.status_code == 200
    ids = [a["id"].rsplit("/", 1)[1] for a in response.json()["items"]]
    assert ids == ["front#tagging-red", "back#tagging-red"]


def test_bad_requests_get_a_clear_detail(api, add_image):
    assert api.get("/api/iiif/annotations/ghost").status_code == 404
    missing = api.get("/api/iiif/annotations", {"museum": "Met Museum"})
    assert missing.status_code == 400 and "object_number" in missing.json()["detail"]
    unknown = api.get("/api/iiif/annotations", {"museum": "M", "object_number": "9"})
    assert unknown.status_code == 404 and "No item '9' of museum 'M'" in unknown.json()["detail"]


def test_plain_json_is_served_when_asked_and_viewers_on_other_origins_may_read(api, add_image):
    image_id = add_image("x", RED)
    response = api.get(f"/api/iiif/annotations/{image_id}", HTTP_ACCEPT="application/json")
    assert response["Content-Type"] == "application/json"
    assert response["Access-Control-Allow-Origin"] == "*"


def test_annotations_need_a_token_like_the_rest_of_the_api(anonymous, make_image):
    make_image(image_id="x")
    response = anonymous.get("/api/iiif/annotations/x")
    assert response.status_code == 401 and response.json()["detail"]


def test_the_endpoints_are_in_the_openapi_schema(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "/api/iiif/annotations/{image_id}" in schema["paths"]
    assert "/api/iiif/annotations" in schema["paths"]
    assert any(p.startswith("/api/predictions/{task_id}/records") for p in schema["paths"])
