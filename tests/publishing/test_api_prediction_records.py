"""GET /api/predictions/<task_id>/records.csv|.jsonl: a library prediction keyed on museum +
object number."""

import csv
import io
import json
from unittest import mock

from muses.collection.models import Image
from tests.custom_tagging.conftest import BLUE, RED


def finished_job(api, tags=("red",)) -> str:
    response = api.post("/api/predictions", {"tags": list(tags)}, format="json")
    assert response.status_code == 202
    task_id = response.json()["task_id"]
    assert api.get(f"/status/{task_id}").json()["state"] == "success"
    return task_id


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


def test_the_csv_has_one_row_per_object_with_its_best_score(
    api, trained_tag, add_image, museum_object
):
    trained_tag("red")
    add_image("jar-front", RED)
    add_image("jar-back", BLUE)
    add_image("bowl", BLUE)
    add_image("upload-only", RED)  # no item: not in the export
    museum_object("09.180.1", "jar-front", "jar-back")
    museum_object("10.1", "bowl")
    Image.objects.filter(image_id="bowl").update(
        predicted_class="vessel", predicted_probability=0.9
    )
    task_id = finished_job(api)
    response = api.get(f"/api/predictions/{task_id}/records.csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert f'filename="records-{task_id}.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(body(response))))
    assert [(r["museum"], r["object_number"]) for r in rows] == [
        ("Met Museum", "09.180.1"),
        ("Met Museum", "10.1"),
    ]
    jar, bowl = rows
    assert jar["image_ids"] == "jar-front;jar-back" and jar["red:prediction"] == "1"
    assert (bowl["red:prediction"], bowl["naive_class"], bowl["naive_probability"]) == (
        "0",
        "vessel",
        "0.9",
    )
    assert float(jar["red:score"]) > float(bowl["red:score"])


def test_json_lines_give_the_same_records(api, trained_tag, add_image, museum_object):
    trained_tag("red")
    add_image("jar", RED)
    museum_object("09.180.1", "jar")
    task_id = finished_job(api)
    response = api.get(f"/api/predictions/{task_id}/records.jsonl")
    assert response["Content-Type"] == "application/x-ndjson"
    (line,) = body(response).splitlines()
    record = json.loads(line)
    assert (record["museum"], record["object_number"], record["image_ids"]) == (
        "Met Museum",
        "09.180.1",
        ["jar"],
    )
    assert record["tags"]["red"]["prediction"] is True and record["naive_class"] is None


def test_an_unfinished_job_is_409_and_unknown_ones_404(api, trained_tag):
    trained_tag("red")
    with mock.patch("muses.jobs.services.async_task"):
        task_id = api.post("/api/predictions", {}, format="json").json()["task_id"]
    assert api.get(f"/api/predictions/{task_id}/records.csv").status_code == 409
    assert api.get("/api/predictions/nope/records.csv").status_code == 404
    assert api.get(f"/api/predictions/{task_id}/records.xml").status_code == 404


def test_records_need_a_token(anonymous):
    assert anonymous.get("/api/predictions/x/records.csv").status_code == 401


def test_records_are_read_from_a_job_whose_csv_is_in_a_bucket(
    s3_media, api, trained_tag, add_image, museum_object
):
    trained_tag("red")
    add_image("jar", RED)
    museum_object("09.180.1", "jar")
    task_id = finished_job(api)
    assert any(key.startswith("predictions/") for key in s3_media.keys())
    rows = list(
        csv.DictReader(io.StringIO(body(api.get(f"/api/predictions/{task_id}/records.csv"))))
    )
    assert [(r["object_number"], r["red:prediction"]) for r in rows] == [("09.180.1", "1")]
