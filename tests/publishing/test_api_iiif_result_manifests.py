"""GET /api/iiif/tags/<tag>/positives/manifest, /api/iiif/tags/<tag>/predictions/manifest
and /api/iiif/classes/<name>/manifest: result sets as IIIF Presentation 3.0 Manifests."""

from muses.collection.models import Image
from tests.custom_tagging.conftest import BLUE, RED
from tests.publishing.presentation3 import manifest_problems

SERVICE = "https://images.museum.example/iiif/3/bastet"
MUSEUM_CANVAS = "https://museum.example/manifests/bastet/canvas/p1"
MUSEUM_MANIFEST = "https://museum.example/manifests/bastet.json"


def canvas_of(manifest: dict, image_id: str) -> dict:
    (canvas,) = [c for c in manifest["items"] if c["id"].endswith(f"/canvas/{image_id}")]
    return canvas


def test_a_tags_positives_are_a_valid_manifest_with_the_stored_images(api, labelled_tag):
    labelled_tag("red", positives=3, negatives=2)
    response = api.get("/api/iiif/tags/red/positives/manifest")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/ld+json")
    assert response["Access-Control-Allow-Origin"] == "*"
    manifest = response.json()
    assert manifest_problems(manifest) == []
    assert manifest["id"] == "http://testserver/api/iiif/tags/red/positives/manifest"
    assert manifest["label"] == {"en": ["red: positive examples"]}
    assert [c["id"].rsplit("/", 1)[1] for c in manifest["items"]] == [
        "red-pos-0",
        "red-pos-1",
        "red-pos-2",
    ]
    image = Image.objects.get(image_id="red-pos-0")
    body = canvas_of(manifest, "red-pos-0")["items"][0]["items"][0]["body"]
    assert body["id"] == f"http://testserver{image.file.url}"
    assert (body["width"], body["height"]) == (image.width, image.height)


def test_an_image_imported_from_iiif_is_painted_with_the_museums_own_image(api, labelled_tag):
    labelled_tag("red", positives=2, negatives=2)
    museum_body = {
        "id": f"{SERVICE}/full/max/0/default.jpg",
        "type": "Image",
        "format": "image/jpeg",
        "service": [{"id": SERVICE, "type": "ImageService3", "profile": "level1"}],
    }
    Image.objects.filter(image_id="red-pos-1").update(
        iiif_body=museum_body, iiif_canvas=MUSEUM_CANVAS, iiif_manifest=MUSEUM_MANIFEST
    )
    manifest = api.get("/api/iiif/tags/red/positives/manifest").json()
    assert manifest_problems(manifest) == []
    canvas = canvas_of(manifest, "red-pos-1")
    assert canvas["items"][0]["items"][0]["body"] == museum_body
    assert canvas["partOf"] == [{"id": MUSEUM_MANIFEST, "type": "Manifest"}]


def test_a_trained_tags_predictions_are_annotations_on_their_canvases(api, trained_tag, add_image):
    trained_tag("red")
    new_red = add_image("new-red", RED)
    add_image("new-blue", BLUE)
    response = api.get("/api/iiif/tags/red/predictions/manifest?n=50")
    assert response.status_code == 200
    manifest = response.json()
    assert manifest_problems(manifest) == []
    assert manifest["id"] == "http://testserver/api/iiif/tags/red/predictions/manifest?n=50"
    shown = [c["id"].rsplit("/", 1)[1] for c in manifest["items"]]
    assert new_red in shown and "new-blue" not in shown
    canvas = canvas_of(manifest, new_red)
    (page,) = canvas["annotations"]
    (tagging,) = [a for a in page["items"] if a["motivation"] == "tagging"]
    assert tagging["target"] == canvas["id"]
    assert (tagging["body"]["value"], tagging["body"]["purpose"]) == ("red", "tagging")
    scores = [float(m["value"]["none"][0]) for c in manifest["items"] for m in c["metadata"]
              if m["label"] == {"en": ["Score"]}]  # fmt: skip
    assert scores == sorted(scores, reverse=True) and len(scores) == len(shown)


def test_n_bounds_the_predictions(api, trained_tag):
    trained_tag("red")
    manifest = api.get("/api/iiif/tags/red/predictions/manifest?n=2").json()
    assert len(manifest["items"]) == 2 and manifest_problems(manifest) == []


def test_a_naive_class_is_a_manifest_surest_first_with_classifying_annotations(api, add_image):
    for image_id, probability in (("a", 0.7), ("b", 0.95), ("c", 0.8)):
        add_image(image_id, RED)
        Image.objects.filter(image_id=image_id).update(
            predicted_class="statuette", predicted_probability=probability
        )
    add_image("other", BLUE)
    response = api.get("/api/iiif/classes/statuette/manifest")
    manifest = response.json()
    assert response.status_code == 200 and manifest_problems(manifest) == []
    assert [c["id"].rsplit("/", 1)[1] for c in manifest["items"]] == ["b", "c", "a"]
    (annotation,) = manifest["items"][0]["annotations"][0]["items"]
    assert annotation["motivation"] == "classifying"
    assert annotation["body"]["value"] == "statuette" and annotation["body"]["score"] == 0.95


def test_an_empty_result_set_is_a_404_with_a_reason(api, labelled_tag):
    labelled_tag("red", positives=0, negatives=2)
    response = api.get("/api/iiif/tags/red/positives/manifest")
    assert response.status_code == 404
    assert response.json() == {"detail": "No image is marked as a positive example of 'red'."}
    response = api.get("/api/iiif/classes/unicorn/manifest")
    assert response.status_code == 404 and "unicorn" in response.json()["detail"]


def test_an_unknown_tag_an_untrained_tag_and_a_bad_n_are_clear_errors(api, labelled_tag):
    labelled_tag("red", positives=2, negatives=2)
    assert api.get("/api/iiif/tags/nope/positives/manifest").status_code == 404
    assert api.get("/api/iiif/tags/red/predictions/manifest").status_code == 409
    response = api.get("/api/iiif/tags/red/positives/manifest?n=0")
    assert response.status_code == 400 and "n" in response.json()["detail"]


def test_the_manifests_need_the_same_token_as_the_rest_of_the_api(anonymous, labelled_tag):
    labelled_tag("red", positives=2, negatives=2)
    assert anonymous.get("/api/iiif/tags/red/positives/manifest").status_code in (401, 403)


def test_the_validator_catches_what_a_viewer_would_refuse():
    broken = {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": "urn:x",
        "type": "Manifest",
        "label": "no language map",
        "items": [{"id": "https://x/c", "type": "Canvas", "width": 0, "items": []}],
    }
    problems = manifest_problems(broken)
    assert "manifest: id must be an http(s) URI, not 'urn:x'" in problems
    assert "manifest label: must be a language map of lists of strings" in problems
    assert "canvas 0: width must be a positive integer" in problems
    assert "canvas 0: items must list its painting AnnotationPage" in problems
