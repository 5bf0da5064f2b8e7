"""`muses_export_predictions`: the naive class and a library prediction's tags keyed on
museum + object number, as CSV or JSON Lines."""

import csv
import json
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from muses.collection.models import Image
from tests.custom_tagging.conftest import BLUE, RED


def export(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("muses_export_predictions", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def classified(add_image, museum_object):
    add_image("jar", RED)
    add_image("bowl", BLUE)
    museum_object("09.180.1", "jar")
    museum_object("10.1", "bowl")
    Image.objects.filter(image_id="jar").update(predicted_class="vessel", predicted_probability=0.8)


def test_it_writes_the_naive_classes_of_muses_classify_as_csv(classified, tmp_path):
    path = tmp_path / "records.csv"
    _, err = export("--job", "none", "--output", str(path))
    assert f"wrote {path} (the naive class only)" in err
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert rows == [
        {
            "museum": "Met Museum",
            "object_number": "09.180.1",
            "image_ids": "jar",
            "naive_class": "vessel",
            "naive_probability": "0.8",
        }
    ]


def test_an_objects_class_is_the_one_its_surest_image_was_given(add_image, tmp_path, museum_object):
    for image_id, colour in (("side", RED), ("front", BLUE), ("back", RED)):
        add_image(image_id, colour)
    museum_object("09.180.1", "side", "front", "back")
    for image_id, name, probability in (("side", "coin", 0.41), ("front", "vessel", 0.93)):
        Image.objects.filter(image_id=image_id).update(
            predicted_class=name, predicted_probability=probability
        )
    path = tmp_path / "records.csv"
    export("--job", "none", "--output", str(path))
    (row,) = csv.DictReader(path.open(encoding="utf-8"))
    assert (row["image_ids"], row["naive_class"], row["naive_probability"]) == (
        "side;front;back",
        "vessel",
        "0.93",
    )


def test_by_default_it_adds_the_latest_library_prediction_as_json_lines(
    api, trained_tag, classified
):
    trained_tag("red")
    task_id = api.post("/api/predictions", {"tags": ["red"]}, format="json").json()["task_id"]
    out, _ = export("--format", "jsonl")
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["object_number"] for r in records] == ["09.180.1", "10.1"]
    assert records[0]["tags"]["red"]["prediction"] is True
    assert records[1]["tags"]["red"]["prediction"] is False
    again, _ = export("--format", "jsonl", "--job", task_id)
    assert again == out


def test_an_unknown_job_is_a_clear_error(db):
    with pytest.raises(CommandError, match="No task with task_id 'nope'"):
        export("--job", "nope")


def test_an_unwritable_output_is_a_clear_error(classified, tmp_path):
    path = tmp_path / "missing-dir" / "records.csv"
    with pytest.raises(CommandError, match="missing-dir/records.csv: cannot write"):
        export("--job", "none", "--output", str(path))


def test_an_export_that_breaks_off_keeps_the_previous_file(classified, tmp_path):
    path = tmp_path / "records.csv"
    path.write_text("the previous export\n")

    def broken(**_):
        yield "museum,object_number\n"
        raise RuntimeError("database went away")

    target = "publishing.management.commands.muses_export_predictions.predictions_export"
    with mock.patch(target, broken), pytest.raises(RuntimeError):
        export("--job", "none", "--output", str(path))
    assert path.read_text() == "the previous export\n"
    assert not (tmp_path / ".records.csv.partial").exists()
