"""The seed's state-changing GETs (/custom/assign, /custom/train, /custom/delete) and every
POST refuse requests another web site started in the curator's browser, and a session
cookie alone does not authorise those GETs. Scripts (no browser headers) pass unchanged."""

import pytest
from rest_framework.test import APIClient

from custom_tagging.models import Assignment, CustomTag
from tests.custom_tagging.conftest import RED
from tests.reliability.conftest import assert_refused

STATE_CHANGING_GETS = [
    "/custom/assign/red-pos-0/negative/red",
    "/custom/train/red",
    "/custom/delete/red",
]
CROSS_SITE = {
    "Sec-Fetch-Site cross-site": {"HTTP_SEC_FETCH_SITE": "cross-site"},
    "Sec-Fetch-Site same-site": {"HTTP_SEC_FETCH_SITE": "same-site"},
    "foreign Origin": {"HTTP_ORIGIN": "https://evil.example"},
    "Origin null": {"HTTP_ORIGIN": "null"},
    "foreign Referer": {"HTTP_REFERER": "https://evil.example/page.html"},
    "foreign Origin and same-origin fetch": {
        "HTTP_ORIGIN": "https://evil.example",
        "HTTP_SEC_FETCH_SITE": "same-origin",
    },
}
SAME_SITE = {
    "no browser headers (a script)": {},
    "typed in the address bar": {"HTTP_SEC_FETCH_SITE": "none"},
    "from MUSES' own page": {
        "HTTP_SEC_FETCH_SITE": "same-origin",
        "HTTP_REFERER": "http://testserver/admin/",
    },
    "our own Origin": {"HTTP_ORIGIN": "http://testserver"},
}


@pytest.fixture
def red(labelled_tag):
    return labelled_tag("red", positives=2, negatives=2)


@pytest.mark.parametrize("headers", list(CROSS_SITE))
@pytest.mark.parametrize("url", STATE_CHANGING_GETS)
def test_a_cross_site_get_is_refused_with_403_and_changes_nothing(
    api, red, unchanged, url, headers
):
    check = unchanged()
    assert_refused(api.get(url, **CROSS_SITE[headers]), 403, "another site")
    check()


@pytest.mark.parametrize("headers", list(CROSS_SITE))
def test_a_cross_site_get_is_refused_when_the_api_is_open(
    anonymous, red, unchanged, settings, headers
):
    settings.MUSES_API_OPEN = True
    check = unchanged()
    assert_refused(anonymous.get("/custom/delete/red", **CROSS_SITE[headers]), 403, "another site")
    check()


@pytest.mark.parametrize("headers", list(SAME_SITE))
def test_the_same_get_from_a_script_or_our_own_pages_works(api, red, headers):
    response = api.get("/custom/assign/red-pos-0/negative/red", **SAME_SITE[headers])
    assert response.status_code == 200, response.content
    assert Assignment.objects.get(image__image_id="red-pos-0").label == "negative"


def test_a_cross_site_upload_is_refused_when_the_api_is_open(
    anonymous, db, unchanged, settings, upload
):
    settings.MUSES_API_OPEN = True
    check = unchanged()
    response = anonymous.post(
        "/system/database/image/add?image_id=x1",
        {"data": upload(RED)},
        HTTP_ORIGIN="https://evil.example",
    )
    assert_refused(response, 403, "another site")
    check()


def test_a_cross_site_get_of_a_read_only_endpoint_is_still_answered(api, red):
    response = api.get("/api/tags", HTTP_SEC_FETCH_SITE="cross-site")
    assert response.status_code == 200


@pytest.mark.parametrize("url", STATE_CHANGING_GETS)
def test_a_session_cookie_alone_does_not_authorise_a_state_changing_get(user, red, unchanged, url):
    browser = APIClient()
    browser.force_login(user)
    check = unchanged()
    assert_refused(browser.get(url), 401, "session cookie")
    check()


def test_with_a_session_a_post_with_the_csrf_token_still_works(user, red):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(user)
    browser.get("/admin/login/")  # a page with a form sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    response = browser.post("/custom/delete/red", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200, response.content
    assert not CustomTag.objects.filter(name="red").exists()


def test_in_the_open_demo_a_session_cookie_is_ignored_not_refused(user, red, settings):
    settings.MUSES_API_OPEN = True
    browser = APIClient()
    browser.force_login(user)
    response = browser.get("/custom/assign/red-pos-0/negative/red")
    assert response.status_code == 200
    assert Assignment.objects.get(image__image_id="red-pos-0").assigned_by is None
