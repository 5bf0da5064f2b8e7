"""GET /custom/predict/<tag>/<image_id>: one tag, from stored features."""

from urllib.parse import quote

from tests.custom_tagging.conftest import BLUE, RED


def test_it_scores_one_tag_on_one_stored_image(api, trained_tag, add_image):
    trained_tag("red")
    add_image("a-red", RED)
    add_image("a-blue", BLUE)
    red = api.get("/custom/predict/red/a-red")
    assert red.status_code == 200
    assert red.json()["tag"] == "red" and red.json()["image_id"] == "a-red"
    assert red.json()["prediction"] is True
    assert api.get("/custom/predict/red/a-blue").json()["prediction"] is False


def test_the_first_segment_is_the_tag_and_the_second_the_image(api, trained_tag, add_image):
    trained_tag("red")
    add_image("red-image", RED)
    assert api.get("/custom/predict/red-image/red").status_code == 404


def test_a_tag_with_spaces_and_unicode_works_in_the_path(api, trained_tag, add_image):
    trained_tag("rote Münze")
    add_image("x1", RED)
    response = api.get(f"/custom/predict/{quote('rote Münze')}/x1")
    assert response.status_code == 200 and response.json()["tag"] == "rote Münze"


def test_an_unknown_tag_is_404(api, add_image):
    add_image("x1")
    assert api.get("/custom/predict/ghost/x1").status_code == 404


def test_an_unknown_image_is_404(api, trained_tag):
    trained_tag("red")
    assert api.get("/custom/predict/red/ghost").status_code == 404


def test_an_untrained_tag_is_409(api, labelled_tag):
    labelled_tag("red")
    assert api.get("/custom/predict/red/red-pos-0").status_code == 409


def test_it_needs_a_token(anonymous):
    assert anonymous.get("/custom/predict/red/x").status_code == 401
