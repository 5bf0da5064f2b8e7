"""POST /predict/custom/<tag> (data=image)"""

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.custom_tagging.conftest import BLUE, RED


def test_a_red_upload_is_predicted_red_and_a_blue_one_is_not(api, trained_tag, upload):
    trained_tag("red")
    red = api.post("/predict/custom/red", {"data": upload(RED)}, format="multipart")
    assert red.status_code == 200
    body = red.json()
    assert set(body) == {"tag", "score", "prediction", "threshold", "version"}
    assert body["tag"] == "red" and body["version"] == 1 and body["prediction"] is True
    blue = api.post("/predict/custom/red", {"data": upload(BLUE)}, format="multipart").json()
    assert blue["prediction"] is False and blue["score"] < body["score"]


def test_prediction_agrees_with_score_and_threshold(api, trained_tag, upload):
    trained_tag("red")
    body = api.post("/predict/custom/red", {"data": upload((120, 60, 90))}, format="multipart")
    body = body.json()
    assert body["prediction"] == (body["score"] >= body["threshold"])


def test_the_upload_is_not_stored(api, trained_tag, upload):
    from muses.collection.models import Image

    trained_tag("red")
    before = Image.objects.count()
    api.post("/predict/custom/red", {"data": upload(RED)}, format="multipart")
    assert Image.objects.count() == before


def test_an_unknown_tag_is_404(api, upload):
    response = api.post("/predict/custom/ghost", {"data": upload(RED)}, format="multipart")
    assert response.status_code == 404


def test_a_tag_without_a_trained_version_is_409(api, labelled_tag, upload):
    labelled_tag("red")
    response = api.post("/predict/custom/red", {"data": upload(RED)}, format="multipart")
    assert response.status_code == 409
    assert "train it first" in response.json()["detail"]


def test_it_needs_the_data_field(api, trained_tag):
    trained_tag("red")
    response = api.post("/predict/custom/red", {}, format="multipart")
    assert response.status_code == 400
    assert "'data'" in response.json()["detail"]


def test_it_refuses_a_non_image(api, trained_tag):
    trained_tag("red")
    junk = SimpleUploadedFile("x.png", b"\x89PNG\r\n\x1a\nnot really", "image/png")
    response = api.post("/predict/custom/red", {"data": junk}, format="multipart")
    assert response.status_code == 400


def test_it_refuses_an_oversize_upload_with_413(api, trained_tag, upload, settings):
    trained_tag("red")
    settings.MUSES_MAX_UPLOAD_BYTES = 50
    response = api.post("/predict/custom/red", {"data": upload(RED)}, format="multipart")
    assert response.status_code == 413


def test_it_needs_a_token(anonymous, upload):
    response = anonymous.post("/predict/custom/red", {"data": upload(RED)}, format="multipart")
    assert response.status_code == 401
