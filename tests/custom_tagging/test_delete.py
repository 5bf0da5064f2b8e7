"""GET|POST /custom/delete/<tag>"""

from custom_tagging.models import Assignment, CustomTag, TagVersion, TrainingJob
from muses.collection.models import Image


def test_it_resets_the_tag_its_versions_and_assignments(api, trained_tag):
    trained_tag("red")
    response = api.get("/custom/delete/red")
    assert response.status_code == 200
    assert response.json() == {"tag": "red", "versions_deleted": 1, "assignments_deleted": 12}
    assert not CustomTag.objects.exists()
    assert not TagVersion.objects.exists() and not Assignment.objects.exists()
    assert Image.objects.count() == 12  # the images stay


def test_old_task_ids_still_answer_after_a_reset(api, labelled_tag):
    labelled_tag("red")
    task_id = api.get("/custom/train/red").json()["task_id"]
    api.post("/custom/delete/red")
    body = api.get(f"/status/{task_id}").json()
    assert body["tag"] == "red" and body["state"] == "success" and body["version"] is None


def test_a_reset_tag_can_be_taught_again_from_scratch(api, trained_tag, add_image):
    trained_tag("red")
    api.get("/custom/delete/red")
    assert api.get("/custom/predict/red/red-pos-0").status_code == 404
    api.get("/custom/assign/red-pos-0/positive/red")
    assert api.get("/custom/train/red").status_code == 400  # no negatives yet


def test_resetting_cancels_a_queued_training(api, labelled_tag):
    from unittest import mock

    labelled_tag("red")
    with mock.patch("muses.jobs.services.async_task"):
        task_id = api.get("/custom/train/red").json()["task_id"]
    api.get("/custom/delete/red")
    assert TrainingJob.objects.get(task_id=task_id).state == "cancelled"


def test_an_unknown_tag_is_404(api):
    assert api.get("/custom/delete/ghost").status_code == 404


def test_deleting_needs_a_token(anonymous):
    assert anonymous.get("/custom/delete/red").status_code == 401
