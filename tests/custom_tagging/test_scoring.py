"""A version scores an image as sigmoid(features . coef + intercept), on every path."""

import math

import numpy as np
import pytest

from custom_tagging.models import TagVersion
from custom_tagging.services.features import image_features_get
from muses.collection.models import Image

# Moves every logit by this much: far more than the 4-decimal rounding of a score.
SHIFT = 1.5


def expected_score(version: TagVersion, image_id: str) -> float:
    features = image_features_get(image=Image.objects.get(image_id=image_id))
    logit = float(np.dot(features.astype(np.float64), version.coef_array()) + version.intercept)
    return 1 / (1 + math.exp(-logit))


@pytest.fixture
def shifted_version(trained_tag, add_image):
    """The trained 'red' tag with its intercept moved by SHIFT, and a mid-coloured image."""
    trained_tag("red")
    add_image("mid", (170, 60, 110))
    version = TagVersion.objects.get(tag__name="red", is_active=True)
    version.intercept += SHIFT
    version.save(update_fields=["intercept"])
    return version


def test_a_stored_image_scores_with_the_versions_weights_and_intercept(api, shifted_version):
    score = api.get("/custom/predict/red/mid").json()["score"]
    assert score == pytest.approx(expected_score(shifted_version, "mid"), abs=1e-4)


def test_the_batch_path_scores_with_the_versions_weights_and_intercept(api, shifted_version):
    body = api.get("/custom/predict_batch?image_id=mid,red-pos-0&tags=red").json()
    for image_id in ("mid", "red-pos-0"):
        score = body["predictions"][image_id]["red"]["score"]
        assert score == pytest.approx(expected_score(shifted_version, image_id), abs=1e-4)


def test_an_upload_scores_like_the_same_image_stored(api, shifted_version, upload):
    body = api.post("/predict/custom/red", {"data": upload((170, 60, 110))}, format="multipart")
    assert body.json()["score"] == pytest.approx(expected_score(shifted_version, "mid"), abs=1e-4)


def test_the_library_csv_rows_read_back_as_csv_writer_would_write_them():
    import csv
    import io

    from custom_tagging.scoring import ActiveModels, csv_lines

    models = ActiveModels(
        tag_names=["a", "b"],
        versions=[1, 1],
        thresholds=np.array([0.5, 0.25]),
        weights=np.zeros((3, 2), np.float32),
        intercepts=np.zeros(2, np.float32),
    )
    ids = ["plain", 'with "quotes"', "comma,id", "line\nbreak"]
    scores = np.array([[0.5, 0.2499], [0.49994, 0.25], [1.0, 0.0], [0.00004, 0.12346]])
    expected = io.StringIO()
    csv.writer(expected).writerows(
        [
            ["plain", "0.5", "1", "0.2499", "0"],
            ['with "quotes"', "0.4999", "0", "0.25", "1"],
            ["comma,id", "1.0", "1", "0.0", "0"],
            ["line\nbreak", "0.0", "0", "0.1235", "0"],
        ]
    )
    assert csv_lines(ids, models, scores) == expected.getvalue()
    assert list(csv.reader(io.StringIO(csv_lines(ids, models, scores))))[1][0] == ids[1]
