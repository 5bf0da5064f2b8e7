"""POST /predict/custom (data=image): every trained tag."""

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.custom_tagging.conftest import BLUE, RED


def test_it_scores_every_trained_tag_and_skips_untrained_ones(
    api, trained_tag, labelled_tag, upload
):
    trained_tag("red")
    trained_tag("reddish")
    labelled_tag("untrained")
    response = api.post("/predict/custom", {"data": upload(RED)}, format="multipart")
    assert response.status_code == 200
    custom = response.json()["custom"]
    assert set(custom) == {"red", "reddish"}
    assert custom["red"]["prediction"] is True
    assert set(custom["red"]) == {"score", "prediction", "threshold", "version"}


def test_with_no_trained_tags_the_answer_is_empty(api, upload):
    response = api.post("/predict/custom", {"data": upload(BLUE)}, format="multipart")
    assert response.status_code == 200
    assert response.json() == {"custom": {}}


def test_it_needs_the_data_field(api):
    assert api.post("/predict/custom", {}, format="multipart").status_code == 400


def test_it_refuses_an_empty_file(api):
    empty = SimpleUploadedFile("e.jpg", b"", "image/jpeg")
    assert api.post("/predict/custom", {"data": empty}, format="multipart").status_code == 400


def test_a_json_body_instead_of_multipart_is_refused_cleanly(api):
    response = api.post("/predict/custom", {"data": "abc"}, format="json")
    assert response.status_code == 415


def test_it_needs_a_token(anonymous, upload):
    assert (
        anonymous.post("/predict/custom", {"data": upload(RED)}, format="multipart").status_code
        == 401
    )
