"""GET|POST /custom/train/<tag>, run end to end through django-q2 in sync mode."""

from unittest import mock

from django_q.models import Task

from custom_tagging.models import TagVersion, TrainingJob


def test_training_runs_as_a_django_q_task_and_activates_version_1(api, labelled_tag):
    labelled_tag("red")
    response = api.get("/custom/train/red")
    assert response.status_code == 202
    body = response.json()
    assert body["tag"] == "red" and body["status_url"] == f"/status/{body['task_id']}"
    job = TrainingJob.objects.get(task_id=body["task_id"])
    assert job.state == "success" and job.progress == 1.0
    assert job.version.number == 1 and job.version.is_active
    assert Task.objects.filter(func="custom_tagging.tasks.tag_train_task", success=True).exists()


def test_training_stores_cross_validated_metrics_and_a_threshold(api, labelled_tag):
    labelled_tag("red", positives=8, negatives=8)
    api.get("/custom/train/red")
    version = TagVersion.objects.get(tag__name="red")
    assert version.metrics["cross_validated"] is True
    assert version.metrics["folds"] == 5
    for key in ("precision", "recall", "f1", "average_precision"):
        assert 0.9 <= version.metrics[key] <= 1.0
    assert 0.0 < version.threshold < 1.0
    assert (version.positives, version.negatives) == (8, 8)
    assert version.backbone == "tiny_tagging" and version.weights_digest == "tiny-tagging-v1"


def test_training_again_makes_version_2_active_and_keeps_version_1(api, labelled_tag):
    labelled_tag("red")
    api.get("/custom/train/red")
    api.post("/custom/train/red")
    versions = {v.number: v.is_active for v in TagVersion.objects.filter(tag__name="red")}
    assert versions == {1: False, 2: True}


def test_a_few_examples_train_without_cross_validation(api, labelled_tag):
    labelled_tag("red", positives=1, negatives=2)
    body = api.get("/custom/train/red").json()
    status = api.get(f"/status/{body['task_id']}").json()
    assert status["state"] == "success"
    assert status["metrics"]["cross_validated"] is False
    assert status["threshold"] == 0.5


def test_it_says_which_class_is_missing_when_there_are_only_positives(api, labelled_tag):
    labelled_tag("red", positives=3, negatives=0)
    response = api.get("/custom/train/red")
    assert response.status_code == 400
    assert "no negative" in response.json()["detail"]
    assert not TrainingJob.objects.exists()


def test_it_says_which_class_is_missing_when_there_are_only_negatives(api, labelled_tag):
    labelled_tag("red", positives=0, negatives=2)
    response = api.get("/custom/train/red")
    assert response.status_code == 400
    assert "no positive" in response.json()["detail"]


def test_an_unknown_tag_is_404(api):
    response = api.get("/custom/train/never-made")
    assert response.status_code == 404
    assert response.json()["detail"] == "No custom tag named 'never-made'."


def test_a_failed_training_keeps_the_previous_version_and_reports_the_error(api, labelled_tag):
    labelled_tag("red")
    api.get("/custom/train/red")
    with mock.patch(
        "custom_tagging.services.training.TagClassifier.fit",
        side_effect=RuntimeError("out of memory"),
    ):
        response = api.get("/custom/train/red")
    assert response.status_code == 202
    status = api.get(f"/status/{response.json()['task_id']}").json()
    assert status["state"] == "error"
    assert status["error"] == "out of memory"
    assert TagVersion.objects.get(is_active=True).number == 1
    assert TagVersion.objects.count() == 1


def test_a_second_training_while_one_is_queued_is_refused(api, labelled_tag):
    labelled_tag("red")
    with mock.patch("muses.jobs.services.async_task"):
        first = api.get("/custom/train/red").json()
    assert first["state"] == "queued"
    response = api.get("/custom/train/red")
    assert response.status_code == 409
    assert first["task_id"] in response.json()["detail"]


def test_the_job_is_visible_as_queued_as_soon_as_train_returns(api, labelled_tag):
    labelled_tag("red")
    with mock.patch("muses.jobs.services.async_task") as enqueue:
        body = api.get("/custom/train/red").json()
    job = TrainingJob.objects.get(task_id=body["task_id"])
    enqueue.assert_called_once_with(
        "custom_tagging.tasks.tag_train_task",
        job.pk,
        hook="custom_tagging.tasks.tag_train_hook",
        task_name="train red",
    )
    status = api.get(f"/status/{body['task_id']}").json()
    assert status["state"] == "queued" and status["progress"] == 0.0


def test_training_needs_a_token(anonymous, labelled_tag, api):
    labelled_tag("red")
    assert anonymous.get("/custom/train/red").status_code == 401


def test_a_killed_training_keeps_the_old_version_and_does_not_block_the_next(
    api, labelled_tag, settings
):
    from datetime import timedelta

    from django.utils import timezone

    labelled_tag("red")
    api.get("/custom/train/red")
    long_ago = timezone.now() - timedelta(seconds=settings.Q_CLUSTER["timeout"] + 600)
    killed = TrainingJob.objects.create(
        tag=TrainingJob.objects.get().tag, tag_name="red", state="running", started=long_ago
    )
    response = api.get("/custom/train/red")
    assert response.status_code == 202
    killed.refresh_from_db()
    assert killed.state == "error" and "killed" in killed.error
    assert TagVersion.objects.get(is_active=True).number == 2


def test_imported_images_without_features_get_them_when_the_tag_trains(api, labelled_tag):
    from muses.collection.services import image_store
    from muses.vision.models import ImageFeature
    from tests.conftest import encode_image

    labelled_tag("red", positives=3, negatives=3)
    image_store(data=encode_image(color=(220, 20, 20)), name="i.jpg", image_id="imported")
    api.get("/custom/assign/imported/positive/red")
    assert not ImageFeature.objects.filter(image__image_id="imported").exists()
    task_id = api.get("/custom/train/red").json()["task_id"]
    assert api.get(f"/status/{task_id}").json()["metrics"]["positives"] == 4
    assert ImageFeature.objects.filter(image__image_id="imported").count() == 1
