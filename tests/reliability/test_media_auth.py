"""/media/: with tokens required, stored images and library-prediction CSVs need the token
(or the admin's session) as the API does; open in the demo; signed URLs on S3."""

from urllib.parse import parse_qs, urlsplit

import pytest

from custom_tagging.models import PredictionJob
from muses.collection.models import Image
from tests.reliability.conftest import assert_refused


@pytest.fixture
def image_url(add_image) -> str:
    return "/media/" + Image.objects.get(image_id=add_image("m1")).file.name


@pytest.fixture
def csv_url(api, trained_tag) -> str:
    trained_tag("red")
    task_id = api.post("/api/predictions", {"tags": ["red"]}, format="json").json()["task_id"]
    return "/media/" + PredictionJob.objects.get(task_id=task_id).result.name


def test_an_image_needs_the_token(anonymous, api, image_url):
    assert_refused(anonymous.get(image_url), 401, "credentials")
    response = api.get(image_url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"


def test_a_prediction_csv_needs_the_token_as_its_api_url_does(anonymous, api, csv_url):
    assert_refused(anonymous.get(csv_url), 401)
    response = api.get(csv_url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"image_id,red:score")


def test_the_admin_session_shows_its_thumbnails(admin_client, image_url):
    assert admin_client.get(image_url).status_code == 200


def test_in_the_open_demo_media_need_no_token(anonymous, image_url, settings):
    settings.MUSES_API_OPEN = True
    assert anonymous.get(image_url).status_code == 200


def test_a_missing_file_is_a_404(api, db):
    assert_refused(api.get("/media/images/no/such.jpg"), 404)


def test_behind_nginx_django_checks_the_token_and_nginx_sends_the_file(
    anonymous, api, image_url, settings
):
    settings.MUSES_API_OPEN = False
    settings.MUSES_MEDIA_ACCEL_REDIRECT = "/protected-media/"
    assert_refused(anonymous.get(image_url), 401)
    response = api.get(image_url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert response["X-Accel-Redirect"] == image_url.replace("/media/", "/protected-media/", 1)


def test_on_s3_the_api_hands_out_signed_expiring_urls(s3_media, api, add_image):
    add_image("s3-1")
    url = api.get("/api/images/s3-1").json()["url"]
    query = parse_qs(urlsplit(url).query)
    assert {"Signature", "Expires"} <= set(query) or {"X-Amz-Signature", "X-Amz-Expires"} <= set(
        query
    )


@pytest.mark.parametrize("path", ["nothing.jpg", "images/", "images/../../etc/passwd"])
def test_a_404_under_media_names_no_server_path(api, db, settings, path):
    response = api.get(f"/media/{path}")
    assert response.status_code in (400, 404)  # 400: a path leaving MEDIA_ROOT
    assert str(settings.MEDIA_ROOT) not in response.content.decode()
    assert "/tmp" not in response.content.decode()
