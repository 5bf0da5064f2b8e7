"""POST /system/database/image/add[?image_id=]"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from muses.collection.models import Image
from muses.vision.models import ImageFeature
from tests.conftest import encode_image

URL = "/system/database/image/add"


def test_it_stores_the_image_and_its_features_under_the_given_id(api, upload):
    response = api.post(
        f"{URL}?image_id=coin-1", {"data": upload((200, 180, 40))}, format="multipart"
    )
    assert response.status_code == 201
    assert response.json()["image_id"] == "coin-1"
    image = Image.objects.get(image_id="coin-1")
    assert ImageFeature.objects.filter(image=image, backbone="tiny_tagging").count() == 1


def test_it_generates_an_id_when_none_is_given(api, upload):
    response = api.post(URL, {"data": upload((1, 2, 3))}, format="multipart")
    assert response.status_code == 201
    assert Image.objects.filter(image_id=response.json()["image_id"]).exists()


def test_it_refuses_a_duplicate_id_and_keeps_the_first_image(api, upload):
    api.post(f"{URL}?image_id=dup", {"data": upload((200, 0, 0))}, format="multipart")
    first = Image.objects.get(image_id="dup").sha256
    response = api.post(f"{URL}?image_id=dup", {"data": upload((0, 0, 200))}, format="multipart")
    assert response.status_code == 409
    assert "already used" in response.json()["detail"]
    assert Image.objects.get(image_id="dup").sha256 == first


@pytest.mark.parametrize("bad_id", ["has space", "a/b", "x" * 65, "ünï", "semi;colon"])
def test_it_refuses_ids_outside_letters_digits_dash_and_underscore(api, upload, bad_id):
    response = api.post(URL, {"data": upload((9, 9, 9)), "image_id": bad_id}, format="multipart")
    assert response.status_code == 400
    assert "image_id" in response.json()["detail"]
    assert not Image.objects.exists()


def test_it_needs_the_data_field(api, upload):
    response = api.post(URL, {"file": upload((9, 9, 9))}, format="multipart")
    assert response.status_code == 400
    assert "'data'" in response.json()["detail"]


def test_it_refuses_an_empty_upload(api):
    empty = SimpleUploadedFile("empty.jpg", b"", "image/jpeg")
    response = api.post(URL, {"data": empty}, format="multipart")
    assert response.status_code == 400
    assert not Image.objects.exists()


def test_it_refuses_a_file_that_is_not_an_image(api):
    text = SimpleUploadedFile("notes.jpg", b"just some text, not a picture", "image/jpeg")
    response = api.post(URL, {"data": text}, format="multipart")
    assert response.status_code == 400
    assert "not an image" in response.json()["detail"]


def test_it_refuses_a_truncated_jpeg(api):
    data = encode_image(size=(64, 64))
    broken = SimpleUploadedFile("cut.jpg", data[: len(data) // 3], "image/jpeg")
    response = api.post(URL, {"data": broken}, format="multipart")
    assert response.status_code == 400


def test_it_refuses_an_upload_over_the_size_limit_with_413(api, upload, settings):
    settings.MUSES_MAX_UPLOAD_BYTES = 100
    response = api.post(URL, {"data": upload((9, 9, 9), size=(64, 64))}, format="multipart")
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert not Image.objects.exists()


def test_it_refuses_a_request_without_a_token(anonymous, upload):
    response = anonymous.post(URL, {"data": upload((9, 9, 9))}, format="multipart")
    assert response.status_code == 401


def test_a_body_declared_far_over_the_limit_is_refused_before_it_is_parsed(api, settings):
    settings.MUSES_MAX_UPLOAD_BYTES = 1000
    big = SimpleUploadedFile("big.jpg", b"\xff" * 200_000, "image/jpeg")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            "rest_framework.request.Request.FILES",
            property(lambda self: pytest.fail("the body was parsed")),
        )
        response = api.post(URL, {"data": big}, format="multipart")
    assert response.status_code == 413


def test_an_image_whose_features_cannot_be_stored_leaves_no_row_and_no_file(
    db, settings, tmp_path, monkeypatch
):
    from custom_tagging.services import images

    settings.MEDIA_ROOT = str(tmp_path)

    def failing_store(image, backbone, vector):
        raise RuntimeError("database went away")

    monkeypatch.setattr(images, "image_features_store", failing_store)
    with pytest.raises(RuntimeError):
        images.image_add(data=encode_image(color=(9, 9, 9)), name="a.jpg", image_id="lost")
    assert not Image.objects.filter(image_id="lost").exists()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
