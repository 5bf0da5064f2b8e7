"""GET|POST /custom/assign/<image_id>/<positive|negative>/<tag>"""

from urllib.parse import quote

import pytest

from custom_tagging.models import Assignment, CustomTag


def test_it_assigns_a_positive_and_creates_the_tag(api, add_image):
    add_image("img-1")
    response = api.get("/custom/assign/img-1/positive/coin")
    assert response.status_code == 200
    assert response.json() == {
        "image_id": "img-1",
        "tag": "coin",
        "type": "positive",
        "positives": 1,
        "negatives": 0,
    }
    assignment = Assignment.objects.get()
    assert assignment.tag.name == "coin" and assignment.assigned_by.username == "curator"


def test_assigning_again_switches_the_label_instead_of_adding_a_row(api, add_image):
    add_image("img-1")
    api.get("/custom/assign/img-1/positive/coin")
    response = api.post("/custom/assign/img-1/negative/coin")
    assert response.status_code == 200
    assert response.json()["negatives"] == 1 and response.json()["positives"] == 0
    assert Assignment.objects.get().label == "negative"


def test_an_unknown_image_is_404_and_creates_no_tag(api):
    response = api.get("/custom/assign/nope/positive/coin")
    assert response.status_code == 404
    assert "nope" in response.json()["detail"]
    assert not CustomTag.objects.exists()


@pytest.mark.parametrize("bad_type", ["positiv", "POSITIVE", "neutral", "1"])
def test_a_type_other_than_positive_or_negative_is_400(api, add_image, bad_type):
    add_image("img-1")
    response = api.get(f"/custom/assign/img-1/{bad_type}/coin")
    assert response.status_code == 400
    assert "'positive' or 'negative'" in response.json()["detail"]
    assert not Assignment.objects.exists()


@pytest.mark.parametrize("name", ["blue vase", "Ägyptische Statue", "鳥", "🐈 cat", "a.b-c_d"])
def test_tag_names_may_hold_spaces_and_any_unicode(api, add_image, name):
    add_image("img-1")
    response = api.get(f"/custom/assign/img-1/positive/{quote(name)}")
    assert response.status_code == 200
    assert CustomTag.objects.get().name == name


def test_decomposed_and_composed_unicode_are_the_same_tag(api, add_image):
    add_image("img-1")
    add_image("img-2")
    composed, decomposed = "Statue \u00c4gypten", "Statue A\u0308gypten"
    api.get(f"/custom/assign/img-1/positive/{quote(composed)}")
    api.get(f"/custom/assign/img-2/negative/{quote(decomposed)}")
    assert CustomTag.objects.count() == 1


def test_a_tag_name_over_100_characters_is_400(api, add_image):
    add_image("img-1")
    response = api.get(f"/custom/assign/img-1/positive/{'x' * 101}")
    assert response.status_code == 400
    assert "at most 100 characters" in response.json()["detail"]
    assert api.get(f"/custom/assign/img-1/positive/{'x' * 100}").status_code == 200


def test_a_slash_in_a_tag_name_cannot_reach_the_endpoint(api, add_image):
    add_image("img-1")
    # %2F is decoded before routing: the path has one segment too many.
    assert api.get("/custom/assign/img-1/positive/a%2Fb").status_code == 404
    assert not CustomTag.objects.exists()


@pytest.mark.parametrize("name", ["a,b", " padded", "padded ", " ", "tab\there"])
def test_commas_and_surrounding_spaces_are_refused(api, add_image, name):
    add_image("img-1")
    response = api.get(f"/custom/assign/img-1/positive/{quote(name)}")
    assert response.status_code == 400
    assert not CustomTag.objects.exists()


def test_assigning_needs_a_token(anonymous, add_image):
    add_image("img-1")
    assert anonymous.get("/custom/assign/img-1/positive/coin").status_code == 401
