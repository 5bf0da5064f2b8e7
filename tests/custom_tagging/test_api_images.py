"""/api/images and /api/images/<image_id>"""

from tests.custom_tagging.conftest import RED


def test_images_are_listed_newest_first(api, add_image):
    add_image("first")
    add_image("second")
    body = api.get("/api/images").json()
    assert body["count"] == 2
    assert [i["image_id"] for i in body["results"]] == ["second", "first"]
    assert body["results"][0]["url"].startswith("/media/images/")


def test_an_image_is_added_like_the_seed_endpoint(api, upload):
    response = api.post("/api/images?image_id=via-rest", {"data": upload(RED)}, format="multipart")
    assert response.status_code == 201 and response.json()["image_id"] == "via-rest"
    assert (
        api.post(
            "/api/images?image_id=via-rest", {"data": upload(RED)}, format="multipart"
        ).status_code
        == 409
    )


def test_one_image_shows_its_assignments(api, labelled_tag):
    labelled_tag("red", 1, 1)
    body = api.get("/api/images/red-pos-0").json()
    assert body["assignments"] == {"red": "positive"}
    assert api.get("/api/images/ghost").status_code == 404


def test_images_need_a_token(anonymous):
    assert anonymous.get("/api/images").status_code == 401
