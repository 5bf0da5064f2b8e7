"""GET /custom/predict/<image_id>: every trained tag, from stored features."""

from unittest import mock

from muses.collection.services import image_store
from tests.conftest import encode_image
from tests.custom_tagging.conftest import BLUE, RED


def test_it_scores_a_stored_image_with_every_trained_tag(api, trained_tag, add_image):
    trained_tag("red")
    add_image("fresh-red", RED)
    response = api.get("/custom/predict/fresh-red")
    assert response.status_code == 200
    body = response.json()
    assert body["image_id"] == "fresh-red"
    assert body["custom"]["red"]["prediction"] is True
    assert set(body["custom"]["red"]) == {"score", "prediction", "threshold", "version"}


def test_it_reads_stored_features_without_decoding_the_image(api, trained_tag, add_image):
    trained_tag("red")
    add_image("fresh-red", RED)
    with mock.patch("muses.collection.decode.decode_image", side_effect=AssertionError("decoded")):
        assert api.get("/custom/predict/fresh-red").status_code == 200


def test_an_imported_image_without_features_gets_them_once(api, trained_tag):
    trained_tag("red")
    image_store(data=encode_image(color=BLUE), name="b.jpg", image_id="imported")
    body = api.get("/custom/predict/imported").json()
    assert body["custom"]["red"]["prediction"] is False
    assert image_store.__name__  # the row now exists:
    from muses.vision.models import ImageFeature

    assert ImageFeature.objects.filter(image__image_id="imported").count() == 1


def test_with_no_trained_tags_the_answer_is_empty(api, add_image):
    add_image("img-1")
    assert api.get("/custom/predict/img-1").json() == {"image_id": "img-1", "custom": {}}


def test_an_unknown_image_is_404(api):
    response = api.get("/custom/predict/ghost")
    assert response.status_code == 404
    assert "ghost" in response.json()["detail"]


def test_predict_batch_is_not_mistaken_for_an_image_id(api, trained_tag):
    trained_tag("red")
    response = api.get("/custom/predict_batch?image_id=red-pos-0&tags=red")
    assert response.status_code == 200
    assert "predictions" in response.json()


def test_it_needs_a_token(anonymous):
    assert anonymous.get("/custom/predict/img-1").status_code == 401
