"""/api/tags/<tag>/assignments and /api/tags/<tag>/assignments/<image_id>"""


def test_assignments_are_listed_and_filtered_by_label(api, labelled_tag):
    labelled_tag("red", 2, 3)
    body = api.get("/api/tags/red/assignments").json()
    assert body["count"] == 5
    assert body["results"][0]["assigned_by"] == "curator"
    negatives = api.get("/api/tags/red/assignments?label=negative").json()
    assert negatives["count"] == 3
    assert api.get("/api/tags/red/assignments?label=maybe").status_code == 400


def test_an_assignment_is_set_with_a_json_body(api, add_image):
    add_image("img-1")
    response = api.post(
        "/api/tags/new tag/assignments", {"image_id": "img-1", "label": "negative"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["tag"] == "new tag" and response.json()["label"] == "negative"


def test_bad_assignments_are_refused(api, add_image):
    add_image("img-1")
    url = "/api/tags/red/assignments"
    assert (
        api.post(url, {"image_id": "ghost", "label": "positive"}, format="json").status_code == 404
    )
    assert api.post(url, {"image_id": "img-1", "label": "yes"}, format="json").status_code == 400
    assert api.post(url, {"label": "positive"}, format="json").status_code == 400


def test_an_assignment_is_removed(api, labelled_tag):
    labelled_tag("red", 2, 2)
    assert api.delete("/api/tags/red/assignments/red-pos-0").status_code == 204
    assert api.get("/api/tags/red/assignments").json()["count"] == 3
    assert api.delete("/api/tags/red/assignments/red-pos-0").status_code == 404


def test_paging_takes_limit_and_offset(api, labelled_tag):
    labelled_tag("red", 3, 3)
    body = api.get("/api/tags/red/assignments?limit=2&offset=4").json()
    assert body["count"] == 6 and len(body["results"]) == 2
    assert api.get("/api/tags/red/assignments?limit=0").status_code == 400


def test_assignments_need_a_token(anonymous):
    assert anonymous.get("/api/tags/red/assignments").status_code == 401
