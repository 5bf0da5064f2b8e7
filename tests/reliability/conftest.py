"""The reliability matrix: every bad input gets its expected status and a JSON
{"detail": ...}, and leaves every stored row and media file exactly as it was."""

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.custom_tagging import conftest as tagging
from tests.custom_tagging.conftest import BLUE, RED

# The custom-tagging tests' fixtures (numpy backbone, API clients, stored images), shared.
tagging_backbone = tagging.tagging_backbone
fresh_throttles = tagging.fresh_throttles
user, api, anonymous, upload = tagging.user, tagging.api, tagging.anonymous, tagging.upload
add_image, labelled_tag, trained_tag = tagging.add_image, tagging.labelled_tag, tagging.trained_tag

_TRAINED_STATE: list[bytes] = []


@pytest.fixture
def trained_red(api, trained_tag, add_image):
    """Tag 'red', trained, with images red-pos-0 and red-neg-0 (at least). Trained once per
    run; later tests load that state back, which takes a fraction of the time."""
    if not _TRAINED_STATE:
        trained_tag("red")
        _TRAINED_STATE.append(api.get("/get_state").content)
        return
    add_image("red-pos-0", RED)
    add_image("red-neg-0", BLUE)
    state = SimpleUploadedFile("state.tar", _TRAINED_STATE[0], "application/x-tar")
    loaded = api.post("/set_state", {"data": state}, format="multipart")
    assert loaded.status_code == 200 and loaded.json()["versions"] == 1, loaded.content


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
