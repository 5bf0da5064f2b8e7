"""A label-issue report not yet computed for the current labels is computed by a job: the
request answers at once (202 with the task) instead of fitting folds while it waits."""

from unittest import mock

import pytest

from curation.jobs import curation_job_run
from curation.models import CurationJob

QUEUE = "muses.jobs.services.async_task"  # the queue takes the task; no worker runs it here


@pytest.fixture
def red_tag(labelled_tag):
    labelled_tag("red", positives=8, negatives=8)


def test_a_report_not_computed_yet_answers_202_with_the_task_computing_it(api, red_tag):
    with mock.patch(QUEUE):
        response = api.get("/api/tags/red/label-issues")
    assert response.status_code == 202, response.content
    body = response.json()
    job = CurationJob.objects.get(task_id=body["task_id"])
    assert job.kind == "label_issues" and body["status_url"] == f"/status/{job.task_id}"
    assert api.get(body["status_url"]).json()["state"] == "queued"


def test_asking_again_while_it_is_computed_queues_no_second_job(api, red_tag):
    with mock.patch(QUEUE) as queue:
        first = api.get("/api/tags/red/label-issues").json()
        second = api.get("/api/tags/red/label-issues").json()
    assert first["task_id"] == second["task_id"] and queue.call_count == 1


def test_once_the_job_has_run_the_report_is_answered(api, red_tag):
    with mock.patch(QUEUE):
        task_id = api.get("/api/tags/red/label-issues").json()["task_id"]
    job = CurationJob.objects.get(task_id=task_id)
    curation_job_run(job_pk=job.pk)
    status = api.get(f"/status/{task_id}").json()
    assert status["state"] == "success" and status["result"]["examples"] == 16
    with mock.patch(QUEUE) as queue:
        response = api.get("/api/tags/red/label-issues")
    assert response.status_code == 200 and response.json()["examples"] == 16
    assert queue.call_count == 0


def test_too_few_labels_are_refused_at_once_without_a_job(api, labelled_tag):
    labelled_tag("red", positives=6, negatives=2)
    with mock.patch(QUEUE) as queue:
        response = api.get("/api/tags/red/label-issues")
    assert response.status_code == 409 and queue.call_count == 0
    assert not CurationJob.objects.exists()


def test_the_admin_page_says_the_report_is_being_computed(admin_client, red_tag):
    from django.urls import reverse

    from custom_tagging.models import CustomTag

    tag = CustomTag.objects.get(name="red")
    with mock.patch(QUEUE):
        response = admin_client.get(reverse("admin:curation_tag_issues", args=[tag.pk]))
    assert response.status_code == 200
    assert b"being computed in the background" in response.content


def test_a_job_whose_worker_died_is_not_handed_out_again_a_new_one_is_queued(
    api, red_tag, settings
):
    from datetime import timedelta

    from django.utils import timezone

    from custom_tagging.models import CustomTag

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    long_ago = timezone.now() - timedelta(seconds=settings.Q_CLUSTER["timeout"] + 600)
    tag = CustomTag.objects.get(name="red")
    dead = CurationJob.objects.create(
        kind="label_issues",
        options={"report": "tag", "tag_pk": tag.pk},
        state="running",
        started=long_ago,
    )
    with mock.patch(QUEUE) as queue:
        body = api.get("/api/tags/red/label-issues").json()
    assert body["task_id"] != dead.task_id and queue.call_count == 1
    dead.refresh_from_db()
    assert dead.state == "error"


def test_a_report_whose_job_was_cancelled_midway_is_not_served(api, red_tag):
    with mock.patch(QUEUE):
        task_id = api.get("/api/tags/red/label-issues").json()["task_id"]
    job = CurationJob.objects.get(task_id=task_id)
    from curation import label_issues

    real = label_issues.binary_probabilities

    def cancelled_during_the_fit(*args, **kwargs):
        assert api.post(f"/api/jobs/{task_id}/cancel").json()["state"] == "cancelled"
        return real(*args, **kwargs)

    with mock.patch.object(label_issues, "binary_probabilities", cancelled_during_the_fit):
        assert curation_job_run(job_pk=job.pk).state == "cancelled"
    with mock.patch(QUEUE) as queue:
        response = api.get("/api/tags/red/label-issues")
    assert response.status_code == 202 and queue.call_count == 1  # asked for afresh


def test_a_request_arriving_while_the_job_is_being_queued_joins_it(api, red_tag):
    import curation.jobs

    enqueue, nested = curation.jobs.label_issues_enqueue, []

    def a_second_request_first(**kwargs):
        if not nested:
            nested.append(api.get("/api/tags/red/label-issues").json()["task_id"])
        return enqueue(**kwargs)

    with (
        mock.patch(QUEUE),
        mock.patch.object(curation.jobs, "label_issues_enqueue", a_second_request_first),
    ):
        first = api.get("/api/tags/red/label-issues").json()["task_id"]
    assert nested == [first]
    assert CurationJob.objects.filter(kind="label_issues").count() == 1


@pytest.mark.parametrize("query", ["limit=1e9", "limit=0", "offset=-1", "limit=abc"])
def test_a_bad_page_is_400_before_any_job_is_queued(api, red_tag, query):
    # The same answer whether the report is ready or would be computed by a job.
    with mock.patch(QUEUE) as queue:
        response = api.get(f"/api/tags/red/label-issues?{query}")
    assert response.status_code == 400, response.content
    assert "limit" in response.json()["detail"] or "offset" in response.json()["detail"]
    assert queue.call_count == 0 and not CurationJob.objects.exists()
