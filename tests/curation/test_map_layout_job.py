"""Laying out the map runs as a job like every other background task: followed at /status,
listed in /api/jobs and the admin, cancellable, its failure reported instead of lost."""

import pytest
from django.urls import reverse

from curation import layout
from curation.jobs import curation_job_run, map_layout_enqueue
from curation.models import CurationJob, MapPoint
from muses.jobs.services import job_cancel
from tests.curation.conftest import BLUE, RED, shade

LAYOUT = reverse("admin:curation_map_layout")


@pytest.fixture
def reds_and_blues(record_images):
    rows = [("Jar", "Vessel", shade(RED, i)) for i in range(8)]
    rows += [("Coin", "Coin", shade(BLUE, i)) for i in range(8)]
    return record_images(rows)


def test_the_admins_layout_button_queues_a_job_that_lays_out_the_map(
    admin_client, api, reds_and_blues
):
    response = admin_client.post(LAYOUT, follow=True)
    assert response.status_code == 200
    job = CurationJob.objects.get()
    assert job.state == "success" and job.result == {"points": 16}
    assert MapPoint.objects.count() == 16
    assert "laid out: 16 images" in response.content.decode()
    status = api.get(f"/status/{job.task_id}").json()
    assert status["kind"] == "map_layout" and status["state"] == "success"
    assert status["result"] == {"points": 16}


def test_map_layouts_are_listed_with_the_other_jobs(api, reds_and_blues):
    job = map_layout_enqueue()
    listed = api.get("/api/jobs?kind=map_layout").json()
    assert [row["task_id"] for row in listed["results"]] == [job.task_id]
    everything = api.get("/api/jobs").json()
    assert job.task_id in [row["task_id"] for row in everything["results"]]


def test_a_layout_without_features_ends_in_error_with_the_reason(admin_client, api, db):
    response = admin_client.post(LAYOUT, follow=True)
    job = CurationJob.objects.get()
    assert job.state == "error" and "muses_extract_features" in job.error
    assert "not laid out" in response.content.decode()
    assert api.get(f"/status/{job.task_id}").json()["state"] == "error"


def test_a_layout_cancelled_while_it_runs_keeps_the_old_map(reds_and_blues, monkeypatch):
    map_layout_enqueue()
    before = dict(MapPoint.objects.values_list("image_id", "x"))
    job = CurationJob.objects.create(kind="map_layout")
    real_layout = layout.layout

    def cancelled_midway(matrix, method):
        job_cancel(task_id=job.task_id)  # a curator presses cancel during the layout
        return real_layout(matrix, method=method)[::-1]

    monkeypatch.setattr(layout, "layout", cancelled_midway)
    curation_job_run(job_pk=job.pk)
    job.refresh_from_db()
    assert job.state == "cancelled"
    assert dict(MapPoint.objects.values_list("image_id", "x")) == before
