"""GET /api/naive/label-issues"""

from muses.collection.models import Image


def test_a_coin_pictured_but_recorded_as_a_jar_is_flagged(api, jars_and_coins):
    response = api.get("/api/naive/label-issues")
    assert response.status_code == 200, response.content
    body = response.json()
    first = body["results"][0]
    assert first["image_id"] == "rec-16"
    assert (first["given"], first["suggested"], first["source"], first["word"]) == (
        "vessel",
        "coin",
        "words",
        "jar",
    )
    assert first["title"] == "Jar"
    assert body["examples"] == 17


def test_a_class_a_curator_set_is_listed_only_when_asked(api, jars_and_coins):
    Image.objects.filter(image_id="rec-16").update(curator_class="vessel")
    listed = {r["image_id"] for r in api.get("/api/naive/label-issues").json()["results"]}
    assert "rec-16" not in listed
    everything = api.get("/api/naive/label-issues?include_curated=1").json()["results"]
    assert any(r["image_id"] == "rec-16" and r["source"] == "curator" for r in everything)


def test_classes_with_fewer_images_than_folds_are_left_out_and_counted(
    api, jars_and_coins, record_images
):
    record_images([("Shabti of Sennedjem", "Shabti", (200, 200, 200))])
    body = api.get("/api/naive/label-issues").json()
    assert body["left_out_classes"] == {"shabti": 1}
    assert body["examples"] == 17


def test_one_class_only_is_409(api, record_images):
    record_images([("Jar", "Vessel", (200, 30, 30))] * 6)
    response = api.get("/api/naive/label-issues")
    assert response.status_code == 409
    assert "two classes" in response.json()["detail"]


def test_no_features_yet_is_409(api, record_images):
    record_images([("Jar", "Vessel", (200, 30, 30))] * 6, features=False)
    response = api.get("/api/naive/label-issues")
    assert response.status_code == 409
    assert "features" in response.json()["detail"]


def test_nothing_labelled_is_409(api, db):
    assert api.get("/api/naive/label-issues").status_code == 409
