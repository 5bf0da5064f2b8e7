"""GET /similar/<image_id>?n="""

from tests.custom_tagging.conftest import BLUE, RED


def test_the_nearest_images_come_first_and_the_image_itself_is_left_out(api, add_image):
    add_image("query", RED)
    add_image("near", (200, 40, 35))
    add_image("far", BLUE)
    response = api.get("/similar/query?n=5")
    assert response.status_code == 200
    similar = response.json()["similar"]
    assert [s["image_id"] for s in similar] == ["near", "far"]
    assert similar[0]["similarity"] > similar[1]["similarity"]
    assert similar[0]["similarity"] <= 1.0


def test_n_limits_the_answer(api, add_image):
    for i in range(5):
        add_image(f"i{i}", (40 * i, 80, 80))
    assert len(api.get("/similar/i0?n=2").json()["similar"]) == 2


def test_an_unknown_image_is_404(api):
    assert api.get("/similar/ghost").status_code == 404


def test_a_bad_n_is_400(api, add_image):
    add_image("query")
    assert api.get("/similar/query?n=-1").status_code == 400


def test_it_needs_a_token(anonymous):
    assert anonymous.get("/similar/x").status_code == 401
