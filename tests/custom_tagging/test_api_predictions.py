"""/api/predictions: library-wide prediction jobs and their CSV."""

import csv
import io
from unittest import mock

from muses.collection.services import image_store
from tests.conftest import encode_image
from tests.custom_tagging.conftest import BLUE


def test_every_stored_image_is_scored_into_a_downloadable_csv(api, trained_tag):
    trained_tag("red")
    trained_tag("crimson")
    image_store(data=encode_image(color=BLUE), name="b.jpg", image_id="imported-blue")
    response = api.post("/api/predictions", {"tags": ["red"]}, format="json")
    assert response.status_code == 202
    job = response.json()
    status = api.get(f"/status/{job['task_id']}").json()
    assert status["state"] == "success" and status["kind"] == "library_prediction"
    assert status["rows"] == 25 and status["tags"] == ["red"]
    download = api.get(status["result_url"])
    assert download.status_code == 200 and download["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert len(rows) == 25
    assert set(rows[0]) == {"image_id", "red:score", "red:prediction"}
    by_id = {r["image_id"]: r for r in rows}
    assert by_id["red-pos-0"]["red:prediction"] == "1"
    assert by_id["imported-blue"]["red:prediction"] == "0"


def test_without_tags_every_trained_tag_is_used(api, trained_tag):
    trained_tag("red")
    task_id = api.post("/api/predictions", {}, format="json").json()["task_id"]
    assert api.get(f"/api/predictions/{task_id}").json()["tags"] == ["red"]


def test_no_trained_tag_is_409_and_unknown_tags_404(api, labelled_tag):
    assert api.post("/api/predictions", {}, format="json").status_code == 409
    assert api.post("/api/predictions", {"tags": ["ghost"]}, format="json").status_code == 404


def test_the_csv_of_an_unfinished_job_is_409(api, trained_tag):
    trained_tag("red")
    with mock.patch("muses.jobs.services.async_task"):
        task_id = api.post("/api/predictions", {}, format="json").json()["task_id"]
    assert api.get(f"/api/predictions/{task_id}/csv").status_code == 409
    assert api.get("/api/predictions/nope/csv").status_code == 404


def test_predictions_need_a_token(anonymous):
    assert anonymous.post("/api/predictions", {}, format="json").status_code == 401


def test_a_prediction_cancelled_after_its_csv_was_written_serves_no_csv(api, trained_tag):
    from django.core.files.storage import default_storage

    from custom_tagging.jobs import library_prediction_run
    from custom_tagging.models import PredictionJob
    from custom_tagging.services import library

    trained_tag("red")
    with mock.patch("muses.jobs.services.async_task"):
        task_id = api.post("/api/predictions", {}, format="json").json()["task_id"]
    real_store, written = library._store_predictions_csv, []

    def cancelled_once_written(*args, **kwargs):  # the runner finishes after the cancel
        stored = real_store(*args, **kwargs)
        written.append(stored[0])
        assert default_storage.exists(written[0])
        assert api.post(f"/api/jobs/{task_id}/cancel").json()["state"] == "cancelled"
        return stored

    with mock.patch.object(library, "_store_predictions_csv", cancelled_once_written):
        library_prediction_run(job_pk=PredictionJob.objects.get(task_id=task_id).pk)
    assert api.get(f"/status/{task_id}").json()["state"] == "cancelled"
    assert api.get(f"/api/predictions/{task_id}/csv").status_code == 409
    assert not default_storage.exists(written[0])  # the cancelled job leaves no file
