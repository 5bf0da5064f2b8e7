"""/api/jobs, /api/jobs/<task_id>, /api/jobs/<task_id>/cancel, /api/tags/<tag>/train"""

from unittest import mock

from custom_tagging.jobs import training_job_run
from custom_tagging.models import TrainingJob
from muses.jobs.services import job_cancel, job_progress


def test_training_through_the_rest_api_returns_the_job(api, labelled_tag):
    labelled_tag("red")
    response = api.post("/api/tags/red/train")
    assert response.status_code == 202
    assert response.json()["state"] == "success" and response.json()["version"] == 1


def test_jobs_are_listed_and_filtered_by_state(api, labelled_tag):
    labelled_tag("red")
    api.post("/api/tags/red/train")
    assert api.get("/api/jobs").json()["count"] == 1
    assert api.get("/api/jobs?state=error").json()["count"] == 0
    task_id = api.get("/api/jobs").json()["results"][0]["task_id"]
    assert api.get(f"/api/jobs/{task_id}").json()["tag"] == "red"


def test_a_running_job_cancelled_midway_leaves_no_version(api, labelled_tag):
    labelled_tag("red")
    with mock.patch("muses.jobs.services.async_task"):
        task_id = api.post("/api/tags/red/train").json()["task_id"]
    job = TrainingJob.objects.get(task_id=task_id)
    real_progress = job_progress

    def cancel_during_training(**kwargs):
        job_cancel(task_id=task_id)
        real_progress(**kwargs)

    with mock.patch(
        "custom_tagging.services.training.job_progress", side_effect=cancel_during_training
    ):
        assert training_job_run(job_pk=job.pk).state == "cancelled"
    assert not job.tag.versions.exists()


def test_a_job_cancelled_after_its_last_progress_report_is_not_marked_successful(api, labelled_tag):
    labelled_tag("red")
    with mock.patch("muses.jobs.services.async_task"):
        task_id = api.post("/api/tags/red/train").json()["task_id"]
    job = TrainingJob.objects.get(task_id=task_id)
    from custom_tagging.services import training

    real_version_create = training.version_create

    def cancelled_as_the_fit_ends(**kwargs):  # the runner finishes after the cancel
        assert api.post(f"/api/jobs/{task_id}/cancel").json()["state"] == "cancelled"
        return real_version_create(**kwargs)

    with mock.patch.object(training, "version_create", cancelled_as_the_fit_ends):
        training_job_run(job_pk=job.pk)
    status = api.get(f"/status/{task_id}").json()
    assert status["state"] == "cancelled", status
    assert not job.tag.versions.exists()
    assert api.get("/api/jobs?state=success").json()["count"] == 0


def test_a_finished_job_cannot_be_cancelled(api, labelled_tag):
    labelled_tag("red")
    task_id = api.post("/api/tags/red/train").json()["task_id"]
    response = api.post(f"/api/jobs/{task_id}/cancel")
    assert response.status_code == 409
    assert "success" in response.json()["detail"]


def test_cancelling_an_unknown_job_is_404(api):
    assert api.post("/api/jobs/nope/cancel").status_code == 404


def test_jobs_need_a_token(anonymous):
    assert anonymous.get("/api/jobs").status_code == 401


def test_an_unknown_job_state_filter_is_400_naming_the_states(api):
    response = api.get("/api/jobs?state=finished")
    assert response.status_code == 400
    assert "queued" in response.json()["detail"] and "finished" in response.json()["detail"]


def test_a_job_whose_worker_died_is_not_listed_as_running(api, settings):
    from datetime import timedelta

    from django.utils import timezone

    from custom_tagging.models import TrainingJob

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    long_ago = timezone.now() - timedelta(seconds=settings.Q_CLUSTER["timeout"] + 600)
    dead = TrainingJob.objects.create(tag_name="red", state="running", started=long_ago)
    assert api.get("/api/jobs?state=running").json()["count"] == 0
    listed = api.get("/api/jobs?state=error").json()["results"]
    assert [job["task_id"] for job in listed] == [dead.task_id]
