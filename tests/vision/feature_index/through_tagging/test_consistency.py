"""The shared feature index seen through the tagging endpoints: deleted images never come
back, new rows count at once, and a file the index cannot trust is never scored."""

import csv
from unittest import mock

import django_q.tasks
import pytest
from django.conf import settings

from custom_tagging.jobs import library_prediction_create, library_prediction_run
from muses.collection.models import Image
from muses.vision.feature_index.handle import FeatureIndex, feature_index, feature_indexes_close
from muses.vision.feature_index.maintenance import COMPACT_TASK
from muses.vision.feature_index.space import index_name
from muses.vision.models import ImageFeature
from tests.custom_tagging.conftest import BLUE, RED, TINY_NAME


def index_path():
    return settings.MUSES_INDEX_DIR / f"{index_name(TINY_NAME)}.index"


def batch(api, ids: str) -> dict:
    response = api.get(f"/custom/predict_batch?image_id={ids}&tags=red")
    assert response.status_code == 200, response.content
    return response.json()


def library_csv_ids() -> list[str]:
    job = library_prediction_run(job_pk=library_prediction_create(tag_names=["red"]).pk)
    assert job.state == "success", job.error
    with job.result.open("r") as handle:
        return [row["image_id"] for row in csv.DictReader(handle)]


def test_a_deleted_image_is_never_scored_suggested_or_found_similar(api, trained_tag, add_image):
    trained_tag("red")
    add_image("gone", (200, 40, 40))
    add_image("stays", (120, 40, 130))
    assert "gone" in batch(api, "gone,stays")["predictions"]
    Image.objects.get(image_id="gone").delete()
    assert batch(api, "gone,stays")["unknown_image_ids"] == ["gone"]
    suggested = {s["image_id"] for s in api.get("/custom/suggest/red?n=50").json()["suggestions"]}
    assert suggested == {"stays"}
    similar = {s["image_id"] for s in api.get("/similar/red-pos-0?n=50").json()["similar"]}
    assert "gone" not in similar and "stays" in similar
    assert "gone" not in library_csv_ids()


def test_an_image_deleted_behind_the_index_back_is_not_scored_either(api, trained_tag, add_image):
    trained_tag("red")
    add_image("gone", (200, 40, 40))
    batch(api, "gone")
    # A raw delete sends no signal: the index still holds the row, the database decides.
    image = Image.objects.filter(image_id="gone")
    ImageFeature.objects.filter(image__in=image)._raw_delete(ImageFeature.objects.db)
    image._raw_delete(Image.objects.db)
    assert batch(api, "gone")["unknown_image_ids"] == ["gone"]
    suggested = [s["image_id"] for s in api.get("/custom/suggest/red?n=50").json()["suggestions"]]
    assert "gone" not in suggested
    similar = [s["image_id"] for s in api.get("/similar/red-pos-0?n=50").json()["similar"]]
    assert "gone" not in similar
    assert "gone" not in library_csv_ids()


def test_an_image_added_after_the_index_was_opened_is_scored_at_once(api, trained_tag, add_image):
    trained_tag("red")
    batch(api, "red-pos-0")
    add_image("new", RED)
    assert batch(api, "new")["predictions"]["new"]["red"]["prediction"] is True


def test_rows_appended_through_one_handle_are_read_through_another(api, add_image):
    add_image("a", RED)
    reader = FeatureIndex(TINY_NAME)  # what another process on this machine holds
    assert reader.vectors_of(["a", "b"])[0] == ["a"]
    add_image("b", BLUE)
    found, vectors = reader.vectors_of(["b", "a"])
    assert found == ["b", "a"] and vectors.shape == (2, 64)
    assert reader.file().count == 2  # appended by the writer, not re-read from the database


def test_a_row_the_index_lacks_is_read_from_the_database_and_appended(api, add_image):
    add_image("a", RED)
    index = feature_index(TINY_NAME)
    assert index.file().count == 1
    # A row written behind the index's back (another machine, a bulk insert).
    row = ImageFeature.objects.get(image__image_id="a")
    ImageFeature.objects.filter(pk=row.pk)._raw_delete(ImageFeature.objects.db)
    row.pk = None
    row.save()
    found, vectors = index.vectors_of(["a"])
    assert found == ["a"] and vectors.shape == (1, 64)
    assert index.file().count == 2  # appended once, and the stale row is tombstoned
    assert index.file().dead_count() == 1


def test_a_foreign_index_file_is_rebuilt_before_anything_is_scored(api, trained_tag, add_image):
    trained_tag("red")
    add_image("x", (200, 40, 40))
    expected = batch(api, "x,red-neg-0")["predictions"]
    feature_indexes_close()  # a process that opens the file afresh
    index_path().write_bytes(b"not an index at all" * 500)
    assert batch(api, "x,red-neg-0")["predictions"] == expected
    assert index_path().read_bytes()[:8] == b"MUSESIDX"


@pytest.mark.parametrize("damage", ["foreign", "truncated"])
def test_a_large_library_refuses_a_bad_index_with_503_and_queues_a_rebuild(
    api, trained_tag, add_image, settings, damage
):
    trained_tag("red")
    batch(api, "red-pos-0")
    feature_indexes_close()
    settings.MUSES_INDEX_INLINE_ROWS = 0  # as if it held a million rows
    data = index_path().read_bytes()
    index_path().write_bytes(b"\x89PNG" + data[4:] if damage == "foreign" else data[:5000])
    response = api.get("/custom/predict_batch?image_id=red-pos-0&tags=red")
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "rebuild" in detail and str(index_path()) in detail
    # The queued rebuild ran (the queue is synchronous in tests): the next call is served.
    assert "red-pos-0" in batch(api, "red-pos-0")["predictions"]


def test_similar_images_over_cells_match_the_exhaustive_pass(api, add_image, settings):
    from muses.vision.feature_index.maintenance import index_compact

    for i in range(30):
        add_image(f"c{i}", (i * 8 % 256, 255 - i * 8, (i * 37) % 256))
    settings.MUSES_INDEX_CELLS_MIN_ROWS = 10
    index_compact(backbone=TINY_NAME)  # grouped into cells from now on
    add_image("late", (120, 130, 140))  # appended after grouping, with its cell
    index = feature_index(TINY_NAME)
    assert index.file().cells is not None
    settings.MUSES_SIMILAR_PROBE = index.file().cells.cells  # every cell: must equal exact
    query = index.vectors_of(["c3"])[1][0]
    assert index.nearest(query, 10) == index.nearest(query, 10, exhaustive=True)
    # What a user sees: the late image's neighbours, all 30 in the exhaustive pass's order.
    exact = index.nearest(index.vectors_of(["late"])[1][0], 31, exhaustive=True)
    names = dict(Image.objects.values_list("pk", "image_id"))
    expected = [names[pk] for pk, _ in exact if names[pk] != "late"]
    similar = [s["image_id"] for s in api.get("/similar/late?n=40").json()["similar"]]
    assert len(expected) == 30 and similar == expected


def test_a_library_grown_by_uploads_past_the_cells_size_gets_its_cells_by_a_queued_job(
    api, add_image, settings
):
    settings.MUSES_INDEX_CELLS_MIN_ROWS = 12
    for i in range(11):
        add_image(f"g{i}", (i * 20, 255 - i * 20, (i * 37) % 256))
    assert feature_index(TINY_NAME).file().cells is None
    queued = []
    real_async_task = django_q.tasks.async_task

    def recording(func, *args, **kwargs):
        queued.append(func)
        return real_async_task(func, *args, **kwargs)

    with mock.patch.object(django_q.tasks, "async_task", recording):
        add_image("g11", (10, 200, 30))  # the twelfth row: the compaction is queued and runs
    assert queued.count(COMPACT_TASK) == 1
    grouped = feature_index(TINY_NAME).file()
    assert grouped.cells is not None and grouped.count == 12
    settings.MUSES_SIMILAR_PROBE = grouped.cells.cells  # every cell: nothing may be lost
    similar = [s["image_id"] for s in api.get("/similar/g3?n=40").json()["similar"]]
    assert sorted(similar) == sorted(f"g{i}" for i in range(12) if i != 3)


def test_deleted_rows_piling_up_are_compacted_away_by_a_queued_job(api, add_image, monkeypatch):
    from muses.vision.feature_index import maintenance

    monkeypatch.setattr(maintenance, "COMPACT_MIN_DEAD", 3)
    for i in range(8):
        add_image(f"d{i}", (i * 30, 40, 200 - i * 20))
    Image.objects.filter(image_id__in=["d0", "d1"]).delete()
    assert feature_index(TINY_NAME).file().dead_count() == 2
    Image.objects.filter(image_id="d2").delete()  # the third tombstone: compacted
    compacted = feature_index(TINY_NAME).file()
    assert compacted.count == 5 and compacted.dead_count() == 0
    similar = {s["image_id"] for s in api.get("/similar/d5?n=40").json()["similar"]}
    assert similar == {"d3", "d4", "d6", "d7"}
