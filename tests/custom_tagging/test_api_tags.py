"""/api/tags and /api/tags/<tag>"""

from custom_tagging.models import CustomTag, TagVersion


def test_tags_are_listed_with_counts_and_active_version(api, trained_tag, labelled_tag):
    trained_tag("red")
    labelled_tag("blue", 1, 2)
    body = api.get("/api/tags").json()
    assert body["count"] == 2
    rows = {t["name"]: t for t in body["results"]}
    assert rows["red"]["active_version"] == 1 and rows["red"]["positives"] == 6
    assert rows["blue"]["active_version"] is None and rows["blue"]["negatives"] == 2


def test_a_tag_is_created_with_a_target_precision_that_training_uses(api, labelled_tag):
    response = api.post("/api/tags", {"name": "red", "target_precision": 0.99}, format="json")
    assert response.status_code == 201
    labelled_tag("red", 8, 8)
    api.get("/custom/train/red")
    metrics = TagVersion.objects.get().metrics
    assert metrics["threshold_rule"] == "target_precision"
    assert metrics["target_precision"] == 0.99 and metrics["precision"] >= 0.99


def test_creating_an_existing_tag_is_409(api):
    api.post("/api/tags", {"name": "red"}, format="json")
    assert api.post("/api/tags", {"name": "red"}, format="json").status_code == 409


def test_bad_names_and_precisions_are_400(api):
    assert api.post("/api/tags", {"name": "a/b"}, format="json").status_code == 400
    assert api.post("/api/tags", {"name": "x" * 101}, format="json").status_code == 400
    assert (
        api.post("/api/tags", {"name": "ok", "target_precision": 2}, format="json").status_code
        == 400
    )
    assert api.post("/api/tags", {}, format="json").status_code == 400
    assert not CustomTag.objects.exists()


def test_patch_sets_and_clears_the_target_precision(api):
    api.post("/api/tags", {"name": "red"}, format="json")
    assert (
        api.patch("/api/tags/red", {"target_precision": 0.9}, format="json").json()[
            "target_precision"
        ]
        == 0.9
    )
    assert (
        api.patch("/api/tags/red", {"target_precision": None}, format="json").json()[
            "target_precision"
        ]
        is None
    )


def test_delete_resets_the_tag(api, trained_tag):
    trained_tag("red")
    assert api.delete("/api/tags/red").status_code == 200
    assert api.get("/api/tags/red").status_code == 404


def test_tags_need_a_token(anonymous):
    assert anonymous.get("/api/tags").status_code == 401


def test_a_page_of_tags_costs_the_same_queries_however_many_tags_it_holds(api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for_page() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api.get("/api/tags").status_code == 200
        return len(captured)

    CustomTag.objects.create(name="one")
    few = queries_for_page()
    CustomTag.objects.bulk_create(CustomTag(name=f"tag{i}") for i in range(30))
    assert queries_for_page() == few
