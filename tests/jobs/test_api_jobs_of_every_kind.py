"""/api/jobs and /status/<task_id> show every kind of job: training and library prediction,
the naive export and training too; one cancel for all."""

from datetime import timedelta

from django.utils import timezone

from custom_tagging.models import PredictionJob, TrainingJob
from naive_classification.models import NaiveJob


def a_job_of_each_kind() -> list:
    now = timezone.now()
    jobs = [
        TrainingJob.objects.create(tag_name="red", state="success"),
        PredictionJob.objects.create(tag_names=["red"], state="error", error="Boom"),
        NaiveJob.objects.create(kind="naive_export", options={"exporter": "naive"}),
        NaiveJob.objects.create(kind="naive_training", options={"model_name": "m1"}),
    ]
    for age, job in enumerate(reversed(jobs)):  # created one minute apart, newest last
        type(job).objects.filter(pk=job.pk).update(created=now - timedelta(minutes=age))
    return jobs


def test_the_job_list_holds_every_kind_newest_first(api):
    jobs = a_job_of_each_kind()
    body = api.get("/api/jobs").json()
    assert body["count"] == 4
    assert [row["task_id"] for row in body["results"]] == [j.task_id for j in reversed(jobs)]
    assert [row["kind"] for row in body["results"]] == [
        "naive_training",
        "naive_export",
        "library_prediction",
        "training",
    ]


def test_the_job_list_pages_across_kinds(api):
    jobs = a_job_of_each_kind()
    page = api.get("/api/jobs?limit=2&offset=1").json()
    assert page["count"] == 4
    assert [row["task_id"] for row in page["results"]] == [jobs[2].task_id, jobs[1].task_id]


def test_the_job_list_filters_by_state_and_kind(api):
    a_job_of_each_kind()
    assert api.get("/api/jobs?state=queued").json()["count"] == 2
    naive = api.get("/api/jobs?kind=naive_export").json()
    assert naive["count"] == 1 and naive["results"][0]["options"] == {"exporter": "naive"}
    assert api.get("/api/jobs?kind=training&state=success").json()["count"] == 1


def test_an_unknown_kind_is_refused_with_the_known_ones(api):
    response = api.get("/api/jobs?kind=painting")
    assert response.status_code == 400
    assert "naive_export" in response.json()["detail"] and "painting" in response.json()["detail"]


def test_a_naive_job_is_at_status_with_its_options_and_result(api):
    job = NaiveJob.objects.create(
        kind="naive_training",
        options={"model_name": "m1"},
        state="success",
        result={"model_path": "/models/m1.keras"},
    )
    body = api.get(f"/status/{job.task_id}").json()
    assert body["kind"] == "naive_training" and body["state"] == "success"
    assert body["options"] == {"model_name": "m1"}
    assert body["result"] == {"model_path": "/models/m1.keras"}


def test_a_queued_naive_job_is_cancelled_through_the_api(api):
    job = NaiveJob.objects.create(kind="naive_export")
    response = api.post(f"/api/jobs/{job.task_id}/cancel")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    assert api.post(f"/api/jobs/{job.task_id}/cancel").status_code == 409


def test_a_running_naive_job_whose_heartbeat_stopped_is_reported_failed(api, settings):
    settings.MUSES_JOB_HEARTBEAT_STALE_S = 30
    job = NaiveJob.objects.create(
        kind="naive_training",
        state="running",
        started=timezone.now(),
        heartbeat=timezone.now() - timedelta(seconds=60),
    )
    body = api.get(f"/status/{job.task_id}").json()
    assert body["state"] == "error" and "worker stopped" in body["error"]
