"""Every prediction path decides with the version's own threshold, not with 0.5.

The trained 'red' tag learns a threshold near 0.5 on these colours, so here the active
version's threshold is moved far from 0.5, to where training on other data puts it, and
an image is scored that lies between the two: a path that compared with a fixed 0.5
would give the opposite answer.
"""

import csv
import io

import pytest

from custom_tagging.models import TagVersion

# (colour, threshold, prediction): a purplish red scores ~0.63 and a grey ~0.37 on the
# trained tag; each lies between 0.5 and its threshold.
CASES = [
    pytest.param((170, 60, 110), 0.9, False, id="above-0.5-below-a-high-threshold"),
    pytest.param((140, 140, 140), 0.1, True, id="below-0.5-above-a-low-threshold"),
]


@pytest.fixture
def tag_with_threshold(api, trained_tag):
    def make(threshold: float) -> str:
        trained_tag("red")
        updated = TagVersion.objects.filter(tag__name="red", is_active=True).update(
            threshold=threshold
        )
        assert updated == 1
        return "red"

    return make


def _between(score: float, threshold: float) -> bool:
    return min(0.5, threshold) < score < max(0.5, threshold)


@pytest.mark.parametrize("colour, threshold, expected", CASES)
def test_an_upload_scored_between_0_5_and_the_threshold_follows_the_threshold(
    api, tag_with_threshold, upload, colour, threshold, expected
):
    tag = tag_with_threshold(threshold)
    body = api.post(f"/predict/custom/{tag}", {"data": upload(colour)}, format="multipart").json()
    assert _between(body["score"], threshold), body
    assert body["threshold"] == threshold
    assert body["prediction"] is expected
    every_tag = api.post("/predict/custom", {"data": upload(colour)}, format="multipart").json()
    assert every_tag["custom"][tag]["prediction"] is expected


@pytest.mark.parametrize("colour, threshold, expected", CASES)
def test_a_stored_image_scored_between_0_5_and_the_threshold_follows_the_threshold(
    api, tag_with_threshold, add_image, colour, threshold, expected
):
    tag = tag_with_threshold(threshold)
    add_image("between", colour)
    result = api.get("/custom/predict/between").json()["custom"][tag]
    assert _between(result["score"], threshold), result
    assert result["prediction"] is expected
    assert api.get(f"/custom/predict/{tag}/between").json()["prediction"] is expected


@pytest.mark.parametrize("colour, threshold, expected", CASES)
def test_the_batch_path_follows_the_threshold_for_a_score_between_it_and_0_5(
    api, tag_with_threshold, add_image, colour, threshold, expected
):
    tag = tag_with_threshold(threshold)
    add_image("between", colour)
    body = api.get(f"/custom/predict_batch?image_id=between,red-pos-0&tags={tag}").json()
    result = body["predictions"]["between"][tag]
    assert _between(result["score"], threshold), result
    assert result["threshold"] == threshold
    assert result["prediction"] is expected
    posted = api.post(
        "/custom/predict_batch", {"image_id": ["between"], "tags": [tag]}, format="json"
    ).json()
    assert posted["predictions"]["between"][tag]["prediction"] is expected


@pytest.mark.parametrize("colour, threshold, expected", CASES)
def test_the_library_csv_follows_the_threshold_for_a_score_between_it_and_0_5(
    api, tag_with_threshold, add_image, colour, threshold, expected
):
    tag = tag_with_threshold(threshold)
    add_image("between", colour)
    task_id = api.post("/api/predictions", {"tags": [tag]}, format="json").json()["task_id"]
    status = api.get(f"/status/{task_id}").json()
    assert status["state"] == "success", status
    download = api.get(status["result_url"])
    rows = csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode()))
    row = {r["image_id"]: r for r in rows}["between"]
    assert _between(float(row[f"{tag}:score"]), threshold), row
    assert row[f"{tag}:prediction"] == ("1" if expected else "0")
