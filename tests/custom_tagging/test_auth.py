"""Token authentication everywhere, except when MUSES_API_OPEN is set."""

from rest_framework.test import APIClient

from tests.custom_tagging.conftest import RED


def test_without_a_token_the_api_answers_401(anonymous):
    response = anonymous.get("/api/tags")
    assert response.status_code == 401
    assert "Token" in response.json()["detail"] or "credentials" in response.json()["detail"]


def test_a_wrong_token_is_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    assert client.get("/api/tags").status_code == 401


def test_with_muses_api_open_the_seed_runs_without_a_token_or_csrf(anonymous, settings, upload):
    settings.MUSES_API_OPEN = True
    client = APIClient(enforce_csrf_checks=True)
    response = client.post("/system/database/image/add?image_id=open-1", {"data": upload(RED)})
    assert response.status_code == 201
    assert client.get("/custom/assign/open-1/positive/red").status_code == 200
    assert client.get("/custom/predict/open-1").status_code == 200


def test_a_logged_in_browser_session_needs_a_csrf_token_to_post(user, upload):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/api/tags").status_code == 200
    response = client.post("/system/database/image/add", {"data": upload(RED)})
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_uploads_are_throttled_with_the_uploads_scope(api, upload, settings):
    from rest_framework.throttling import ScopedRateThrottle

    original = ScopedRateThrottle.THROTTLE_RATES
    ScopedRateThrottle.THROTTLE_RATES = {**original, "uploads": "1/hour"}
    try:
        first = api.post("/system/database/image/add", {"data": upload(RED)})
        second = api.post("/system/database/image/add", {"data": upload(RED)})
    finally:
        ScopedRateThrottle.THROTTLE_RATES = original
    assert first.status_code == 201
    assert second.status_code == 429
    assert "throttled" in second.json()["detail"]


def test_without_a_configured_rate_uploads_are_not_throttled_and_leave_no_history(
    api, upload, user
):
    from django.core.cache import cache
    from rest_framework.throttling import ScopedRateThrottle

    assert ScopedRateThrottle.THROTTLE_RATES["uploads"] is None
    for _ in range(3):
        assert api.post("/system/database/image/add", {"data": upload(RED)}).status_code == 201
    # Nothing kept per request (the key DRF's ScopedRateThrottle would use for this user).
    assert cache.get(f"throttle_uploads_{user.pk}") is None
