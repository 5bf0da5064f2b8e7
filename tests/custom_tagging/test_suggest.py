"""GET /custom/suggest/<tag>?n="""

from tests.custom_tagging.conftest import BLUE, RED


def test_it_suggests_unlabelled_images_nearest_the_threshold_first(api, trained_tag, add_image):
    trained_tag("red")
    add_image("sure-red", RED)
    add_image("sure-blue", BLUE)
    add_image("unsure", (120, 40, 130))
    response = api.get("/custom/suggest/red?n=3")
    assert response.status_code == 200
    suggestions = response.json()["suggestions"]
    assert {s["image_id"] for s in suggestions} == {"sure-red", "sure-blue", "unsure"}
    threshold = api.get("/custom/predict/red/unsure").json()["threshold"]
    margins = [abs(s["score"] - threshold) for s in suggestions]
    assert margins == sorted(margins)


def test_it_never_suggests_images_already_labelled(api, trained_tag):
    trained_tag("red")
    assert api.get("/custom/suggest/red").json()["suggestions"] == []


def test_n_limits_the_answer(api, trained_tag, add_image):
    trained_tag("red")
    for i in range(4):
        add_image(f"x{i}", (100 + 20 * i, 60, 60))
    assert len(api.get("/custom/suggest/red?n=2").json()["suggestions"]) == 2


def test_a_bad_n_is_400(api, trained_tag):
    trained_tag("red")
    assert api.get("/custom/suggest/red?n=zero").status_code == 400
    assert api.get("/custom/suggest/red?n=0").status_code == 400
    assert api.get("/custom/suggest/red?n=100000").status_code == 400


def test_an_unknown_tag_is_404_and_an_untrained_one_409(api, labelled_tag):
    assert api.get("/custom/suggest/ghost").status_code == 404
    labelled_tag("red", 1, 1)
    assert api.get("/custom/suggest/red").status_code == 409


def test_it_needs_a_token(anonymous):
    assert anonymous.get("/custom/suggest/red").status_code == 401
