"""The reliability matrix: every bad input gets its expected status and a JSON
{"detail": ...}, and leaves every stored row and media file exactly as it was."""

import pytest
from django.apps import apps

# Fixtures of the custom-tagging tests (numpy backbone, API clients, stored images).
from tests.custom_tagging.conftest import (  # noqa: F401
    add_image,
    anonymous,
    api,
    fresh_throttles,
    labelled_tag,
    tagging_backbone,
    trained_tag,
    upload,
    user,
)

MUSES_APPS = ("collection", "vision", "naive_classification", "custom_tagging", "django_q")


def stored_state(media_root) -> dict:
    """Every row of every MUSES table (and the job queue) and every media file's size."""
    state = {}
    for label in MUSES_APPS:
        for model in apps.get_app_config(label).get_models():
            state[model._meta.label] = list(model.objects.order_by("pk").values())
    files = sorted(p for p in media_root.rglob("*") if p.is_file()) if media_root.exists() else []
    state["media"] = [(str(p.relative_to(media_root)), p.stat().st_size) for p in files]
    return state


@pytest.fixture
def unchanged(settings, db):
    """Call it once to take the 'before' picture, and assert on the returned checker."""

    def take():
        before = stored_state(settings.MEDIA_ROOT)

        def check():
            after = stored_state(settings.MEDIA_ROOT)
            changed = [key for key in before if before[key] != after.get(key)]
            assert not changed, f"changed: {changed}"

        return check

    return take


def assert_refused(response, status: int, detail: str = ""):
    """The status asked for, a JSON body whose 'detail' says why (and contains `detail`)."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert isinstance(body.get("detail"), str) and body["detail"], body
    assert detail.lower() in body["detail"].lower(), body["detail"]
