"""Property-based fuzzing of the seed's endpoints: whatever the path segments, query
strings or uploaded bytes, the API answers 2xx or 4xx with a JSON body, never a 5xx."""

from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
segments = st.text(min_size=1, max_size=120).map(lambda s: quote(s, safe=""))
queries = st.dictionaries(
    st.sampled_from(["image_id", "tags", "n", "include_features"]), st.text(max_size=60), max_size=3
)
payloads = st.one_of(
    st.binary(max_size=2048),
    st.just(b"\xff\xd8\xff\xe0" + b"\x00" * 64),  # a JPEG header and nothing else
    st.just(b"\x89PNG\r\n\x1a\n"),
    st.just(b"\x1f\x8b\x08\x00"),  # a gzip header (a tar.gz that is not)
)

GET_PATHS = [
    "/custom/assign/{a}/{b}/{c}",
    "/custom/assign/{a}/positive/{c}",
    "/custom/train/{a}",
    "/custom/delete/{a}",
    "/status/{a}",
    "/custom/predict/{a}",
    "/custom/predict/{a}/{b}",
    "/custom/suggest/{a}",
    "/similar/{a}",
]


def assert_handled(response):
    assert response.status_code < 500, (response.status_code, response.content[:300])
    if response.status_code >= 400:
        assert "application/json" in response["Content-Type"]


@FUZZ
@given(template=st.sampled_from(GET_PATHS), a=segments, b=segments, c=segments, query=queries)
def test_no_path_or_query_makes_the_api_fail(api, template, a, b, c, query):
    path = template.format(a=a, b=b, c=c)
    assert_handled(api.get(f"{path}?{urlencode(query)}"))


@FUZZ
@given(query=queries)
def test_no_predict_batch_query_makes_the_api_fail(api, query):
    assert_handled(api.get(f"/custom/predict_batch?{urlencode(query)}"))


@FUZZ
@given(
    path=st.sampled_from(
        ["/system/database/image/add", "/predict/custom", "/predict", "/set_state"]
    ),
    image_id=segments,
    data=payloads,
)
def test_no_upload_makes_the_api_fail(api, path, image_id, data):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("fuzz.bin", data)
    response = api.post(f"{path}?image_id={image_id}", {"data": upload}, format="multipart")
    assert_handled(response)


def test_a_tag_name_with_a_slash_gets_a_json_404_not_an_html_page(api):
    response = api.get("/custom/assign/img1/positive/a%2Fb")
    assert response.status_code == 404
    assert "No endpoint at" in response.json()["detail"]


def test_the_admin_keeps_its_own_not_found_page(admin_client):
    response = admin_client.get("/admin/no-such-page/")
    assert response.status_code == 404 and "text/html" in response["Content-Type"]


def test_a_nul_byte_in_a_path_or_query_is_refused_before_the_database(api):
    for url in (
        "/custom/assign/%00/positive/t",
        "/status/%00",
        "/custom/predict_batch?image_id=%00",
    ):
        response = api.get(url)
        assert response.status_code == 400
        assert "NUL" in response.json()["detail"]
