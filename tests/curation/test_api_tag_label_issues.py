"""GET /api/tags/<tag>/label-issues"""

from tests.curation.conftest import BLUE, RED


def test_a_red_image_marked_negative_is_the_first_likely_error(api, labelled_tag, add_image):
    labelled_tag("red", positives=8, negatives=8)
    add_image("red-marked-negative", RED)
    api.get("/custom/assign/red-marked-negative/negative/red")
    response = api.get("/api/tags/red/label-issues")
    assert response.status_code == 200, response.content
    body = response.json()
    first = body["results"][0]
    assert first["image_id"] == "red-marked-negative"
    assert (first["given"], first["suggested"], first["source"]) == (
        "negative",
        "positive",
        "assignment",
    )
    assert first["given_probability"] < 0.5 < first["suggested_probability"]
    assert first["url"].startswith("/media/")
    assert body["examples"] == 17 and body["folds"] == 5


def test_the_likeliest_errors_are_listed_first(api, labelled_tag, add_image):
    labelled_tag("red", positives=8, negatives=8)
    planted = {  # two unmistakable flips; orange and purple negatives, only half wrong
        "blue-marked-positive": (BLUE, "positive"),
        "red-marked-negative": (RED, "negative"),
        "orange-marked-negative": ((210, 120, 30), "negative"),
        "purple-marked-negative": ((150, 30, 150), "negative"),
    }
    for image_id, (colour, label) in planted.items():
        add_image(image_id, colour)
        api.get(f"/custom/assign/{image_id}/{label}/red")
    results = api.get("/api/tags/red/label-issues").json()["results"]
    assert {r["image_id"] for r in results[:2]} == {"blue-marked-positive", "red-marked-negative"}
    assert results[2]["image_id"] == "orange-marked-negative"
    given = [r["given_probability"] for r in results]
    assert given == sorted(given) and given[0] < given[-1]
    assert [r["rank"] for r in results] == list(range(1, len(results) + 1))


def test_a_consistent_tag_has_no_likely_errors(api, labelled_tag):
    labelled_tag("red", positives=8, negatives=8)
    body = api.get("/api/tags/red/label-issues").json()
    assert body["count"] == 0 and body["results"] == []


def test_it_pages_with_limit_and_offset(api, labelled_tag, add_image):
    labelled_tag("red", positives=8, negatives=8)
    for i in range(2):
        add_image(f"wrong-{i}", RED)
        api.get(f"/custom/assign/wrong-{i}/negative/red")
    everything = api.get("/api/tags/red/label-issues").json()
    page = api.get("/api/tags/red/label-issues?limit=1&offset=1").json()
    assert everything["count"] >= 2
    assert page["results"] == everything["results"][1:2]
    assert api.get("/api/tags/red/label-issues?limit=0").status_code == 400


def test_an_unknown_tag_is_404(api, db):
    response = api.get("/api/tags/ghost/label-issues")
    assert response.status_code == 404
    assert "ghost" in response.json()["detail"]


def test_too_few_labels_for_the_folds_is_409(api, labelled_tag):
    labelled_tag("red", positives=6, negatives=2)
    response = api.get("/api/tags/red/label-issues")
    assert response.status_code == 409
    assert "at least 3 positive and 3 negative" in response.json()["detail"]


def test_labels_without_features_yet_are_409(api, make_image):
    from custom_tagging.services.tags import assignment_set

    for i in range(4):
        assignment_set(image=make_image(image_id=f"p{i}"), tag_name="t", label="positive")
    response = api.get("/api/tags/t/label-issues")
    assert response.status_code == 409
    assert "muses_extract_features" in response.json()["detail"]


def test_it_needs_a_token(anonymous):
    assert anonymous.get("/api/tags/red/label-issues").status_code == 401
