"""JSON bodies are bounded: nesting depth and finite numbers give 400 {"detail": ...},
never a 500, and nothing is stored."""

import pytest

from custom_tagging.models import CustomTag
from muses.json_limits import JsonRefused, json_loads
from tests.custom_tagging import conftest as tagging

user, api = tagging.user, tagging.api


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("path", ["/api/tags", "/custom/predict_batch"])
@pytest.mark.parametrize("depth", [101, 50_000, 100_000])
def test_a_body_nested_too_deep_is_400_not_500(api, path, depth):
    response = api.post(path, nested(depth), content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert "nested deeper than 100 levels" in response.json()["detail"]
    assert not CustomTag.objects.exists()


def test_a_body_nested_within_the_limit_is_read(api):
    body = '{"name": "vessel", "note": ' + nested(90) + "}"
    response = api.post("/api/tags", body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert CustomTag.objects.get().name == "vessel"


@pytest.mark.parametrize("number", ["1e999999", "-1e999999"])
def test_an_infinite_number_is_refused_not_stored_as_inf(api, number):
    response = api.post("/api/tags", '{"name": ' + number + "}", content_type="application/json")
    assert response.status_code == 400
    assert "out of range" in response.json()["detail"]
    assert not CustomTag.objects.exists()


def test_the_reader_refuses_depth_and_infinity_with_a_message():
    with pytest.raises(JsonRefused, match="deeper than 3 levels"):
        json_loads("[[[[1]]]]", max_depth=3)
    with pytest.raises(JsonRefused, match="deeper than 100 levels"):
        json_loads(nested(200_000))
    with pytest.raises(JsonRefused, match="out of range"):
        json_loads('{"a": [1, 2e400]}')
    assert json_loads('{"a": [[1.5]]}', max_depth=3) == {"a": [[1.5]]}
