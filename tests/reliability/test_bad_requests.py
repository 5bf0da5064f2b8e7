"""Bad requests to every endpoint of the seed and the REST resources: each gets its 4xx with
a JSON {"detail": ...} naming the fault, and every row and media file stays as it was.

Before each case: tag 'red' trained, with images red-pos-0 and red-neg-0."""

from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from custom_tagging.models import Assignment
from tests.conftest import encode_image
from tests.custom_tagging.conftest import RED
from tests.reliability.conftest import assert_refused

ADD = "/system/database/image/add"
ASSIGN = "/custom/assign/red-pos-0/positive/"


def jpeg(data: bytes | None = None, name: str = "x.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, encode_image(color=RED) if data is None else data)


def upload(data: bytes | None = None) -> dict:
    return {"data": jpeg(data)}


# name: (method, url, a function making the multipart body (or None), settings, status,
#        words in the detail)
CASES = {
    # --- adding images ---
    "image_id with a trailing newline": (
        "post",
        f"{ADD}?image_id=abc%0A",
        lambda: upload(),
        {},
        400,
        "invalid",
    ),
    "image_id empty": ("post", f"{ADD}?image_id=", lambda: upload(), {}, 400, "empty"),
    "image_id with a slash": (
        "post",
        f"{ADD}?image_id=a%2Fb",
        lambda: upload(),
        {},
        400,
        "invalid",
    ),
    "image_id of 65 characters": (
        "post",
        f"{ADD}?image_id={'a' * 65}",
        lambda: upload(),
        {},
        400,
        "invalid",
    ),
    "image_id already taken": (
        "post",
        f"{ADD}?image_id=red-pos-0",
        lambda: upload(),
        {},
        409,
        "already",
    ),
    "no data field": ("post", ADD, dict, {}, 400, "'data'"),
    "two files in data": ("post", ADD, lambda: {"data": [jpeg(), jpeg()]}, {}, 400, "exactly one"),
    "an empty file": ("post", ADD, lambda: upload(b""), {}, 400, ""),
    "not an image": ("post", ADD, lambda: upload(b"%PDF-1.4 not an image"), {}, 400, ""),
    "a truncated jpeg": ("post", ADD, lambda: upload(encode_image()[:200]), {}, 400, ""),
    "over the upload limit": (
        "post",
        ADD,
        lambda: upload(),
        {"MUSES_MAX_UPLOAD_BYTES": 100},
        413,
        "limit",
    ),
    # --- assigning ---
    "type neither positive nor negative": (
        "get",
        "/custom/assign/red-pos-0/maybe/red",
        None,
        {},
        400,
        "positive",
    ),
    "unknown image": ("get", "/custom/assign/nope/positive/red", None, {}, 404, "nope"),
    "tag with a zero-width space": ("get", ASSIGN + quote("red\u200b"), None, {}, 400, "U+200B"),
    "tag with a right-to-left override": (
        "get",
        ASSIGN + quote("\u202ered"),
        None,
        {},
        400,
        "U+202E",
    ),
    "tag with a line separator": ("get", ASSIGN + quote("r\u2028ed"), None, {}, 400, "U+2028"),
    "tag with a no-break space": ("get", ASSIGN + quote("art\u00a0deco"), None, {}, 400, "U+00A0"),
    "tag not UTF-8 (%FF)": ("get", ASSIGN + "%FF", None, {}, 400, "not UTF-8"),
    "tag with a literal %FF": ("get", ASSIGN + "%25FF", None, {}, 400, "'%FF'"),
    "tag with a comma": ("get", ASSIGN + "a,b", None, {}, 400, "','"),
    "tag with a newline": ("get", ASSIGN + "red%0A", None, {}, 400, "whitespace"),
    "tag with a tab inside": ("get", ASSIGN + "r%09ed", None, {}, 400, "control"),
    "tag with a leading space": ("get", ASSIGN + "%20red", None, {}, 400, "whitespace"),
    "tag of 101 characters": ("get", ASSIGN + "t" * 101, None, {}, 400, "at most"),
    "NUL in the path": ("get", "/custom/assign/%00/positive/red", None, {}, 400, "NUL"),
    # --- training, status, reset ---
    "train an unknown tag": ("get", "/custom/train/ghost", None, {}, 404, "ghost"),
    "delete an unknown tag": ("get", "/custom/delete/ghost", None, {}, 404, "ghost"),
    "status of an unknown task": ("get", "/status/nope", None, {}, 404, ""),
    "train with DELETE": ("delete", "/custom/train/red", None, {}, 405, "DELETE"),
    # --- predictions ---
    "predict an unknown image": ("get", "/custom/predict/nope", None, {}, 404, "nope"),
    "predict with an unknown tag": (
        "get",
        "/custom/predict/ghost/red-pos-0",
        None,
        {},
        404,
        "ghost",
    ),
    "predict_batch without ids": ("get", "/custom/predict_batch", None, {}, 400, ""),
    "predict_batch with an unknown tag": (
        "get",
        "/custom/predict_batch?image_id=red-pos-0&tags=ghost",
        None,
        {},
        404,
        "ghost",
    ),
    "predict an upload with an unknown tag": (
        "post",
        "/predict/custom/ghost",
        lambda: upload(),
        {},
        404,
        "ghost",
    ),
    "predict an upload that is not an image": (
        "post",
        "/predict",
        lambda: upload(b"GIF89a"),
        {},
        400,
        "",
    ),
    "predict_custom without data": ("post", "/predict/custom", dict, {}, 400, "'data'"),
    "suggest n=0": ("get", "/custom/suggest/red?n=0", None, {}, 400, "between"),
    "suggest n=abc": ("get", "/custom/suggest/red?n=abc", None, {}, 400, "integer"),
    "similar n too large": ("get", "/similar/red-pos-0?n=99999", None, {}, 400, "between"),
    # --- REST resources ---
    "a version that does not exist": ("get", "/api/tags/red/versions/99", None, {}, 404, ""),
    "activate a version that does not exist": (
        "post",
        "/api/tags/red/versions/99/activate",
        dict,
        {},
        404,
        "",
    ),
    "cancel an unknown job": ("post", "/api/jobs/nope/cancel", dict, {}, 404, ""),
    "library prediction of an unknown tag": (
        "post",
        "/api/predictions",
        lambda: {"tags": "ghost"},
        {},
        404,
        "ghost",
    ),
    "CSV of an unknown task": ("get", "/api/predictions/nope/csv", None, {}, 404, ""),
    "unknown path": ("get", "/no/such/endpoint", None, {}, 404, "No endpoint"),
    # --- state ---
    "set_state without data": ("post", "/set_state", dict, {}, 400, "'data'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_request_is_refused_and_changes_nothing(api, trained_red, unchanged, settings, case):
    method, url, body, overrides, status, detail = CASES[case]
    for name, value in overrides.items():
        setattr(settings, name, value)
    check = unchanged()
    if body is None:
        response = getattr(api, method)(url)
    else:
        response = getattr(api, method)(url, body(), format="multipart")
    assert_refused(response, status, detail)
    check()


def test_a_tag_with_joiners_as_emoji_and_scripts_write_them_is_accepted(api, trained_red):
    names = (
        "\U0001f469\u200d\U0001f52c",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        "caf\u00e9 100%",
    )
    for name in names:
        assert api.get(ASSIGN + quote(name)).status_code == 200
        # The name is kept as written (joiners included), not normalised into another tag.
        detail = api.get("/api/tags/" + quote(name))
        assert detail.status_code == 200 and detail.json()["name"] == name
        assert list(
            Assignment.objects.filter(tag__name=name).values_list("image__image_id", "label")
        ) == [("red-pos-0", "positive")]
    listed = {tag["name"] for tag in api.get("/api/tags?limit=100").json()["results"]}
    assert listed == {"red", *names}
