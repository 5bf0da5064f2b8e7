"""/api/tags/<tag>/versions, /api/tags/<tag>/versions/<n>, .../activate"""

from custom_tagging.models import TagVersion


def test_versions_are_listed_newest_first_with_metrics(api, trained_tag):
    trained_tag("red")
    api.get("/custom/train/red")
    body = api.get("/api/tags/red/versions").json()
    assert body["count"] == 2
    assert [v["number"] for v in body["results"]] == [2, 1]
    assert [v["is_active"] for v in body["results"]] == [True, False]
    assert "f1" in body["results"][0]["metrics"]


def test_activating_an_older_version_rolls_back_predictions(api, trained_tag):
    trained_tag("red")
    api.get("/custom/train/red")
    response = api.post("/api/tags/red/versions/1/activate")
    assert response.status_code == 200 and response.json()["is_active"] is True
    assert TagVersion.objects.get(is_active=True).number == 1
    assert api.get("/custom/predict/red/red-pos-0").json()["version"] == 1


def test_one_version_is_shown_by_number(api, trained_tag):
    trained_tag("red")
    body = api.get("/api/tags/red/versions/1").json()
    assert body["number"] == 1 and body["positives"] == 6 and body["backbone"] == "tiny_tagging"


def test_an_unknown_version_is_404(api, trained_tag):
    trained_tag("red")
    assert api.post("/api/tags/red/versions/9/activate").status_code == 404
    assert api.get("/api/tags/red/versions/9").status_code == 404


def test_a_version_of_another_backbone_cannot_be_activated(api, trained_tag):
    trained_tag("red")
    TagVersion.objects.filter(number=1).update(backbone="vgg19", is_active=False)
    response = api.post("/api/tags/red/versions/1/activate")
    assert response.status_code == 409
    assert "vgg19" in response.json()["detail"]


def test_versions_need_a_token(anonymous):
    assert anonymous.get("/api/tags/red/versions").status_code == 401
