"""A tag taught with real EfficientNet-Lite0 features on the sample collection (slow)."""

import csv
import importlib.util

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("muses.vision.efficientnet_lite0") is None,
        reason="muses/vision/efficientnet_lite0.py is not there yet",
    ),
]

TRAIN_PER_CLASS = 8


def sample_rows(sample_dir, object_types: set[str]) -> list[dict]:
    with open(sample_dir / "egyptian-cc0" / "collection.csv", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["object_type"] in object_types]
    return sorted(rows, key=lambda r: r["object_number"])


@pytest.fixture
def lite0(settings):
    from muses.vision.backbones import BackboneUnavailable, get_backbone

    settings.MUSES_BACKBONE = "efficientnet_lite0"
    get_backbone.cache_clear()
    try:
        return get_backbone()
    except BackboneUnavailable as exc:
        pytest.skip(str(exc))


def test_statue_versus_vessel_is_learned_from_eight_examples_each(api, lite0, sample_dir):
    statues = sample_rows(sample_dir, {"Sculpture"})
    vessels = sample_rows(sample_dir, {"Vessel", "Vessels"})
    for row in statues + vessels:
        path = sample_dir / "egyptian-cc0" / row["image_file"]
        upload = SimpleUploadedFile(path.name, path.read_bytes(), "image/jpeg")
        response = api.post(
            f"/system/database/image/add?image_id={row['object_number']}",
            {"data": upload},
            format="multipart",
        )
        assert response.status_code == 201, response.content
    for row in statues[:TRAIN_PER_CLASS]:
        api.get(f"/custom/assign/{row['object_number']}/positive/statue")
    for row in vessels[:TRAIN_PER_CLASS]:
        api.get(f"/custom/assign/{row['object_number']}/negative/statue")
    task_id = api.get("/custom/train/statue").json()["task_id"]
    assert api.get(f"/status/{task_id}").json()["state"] == "success"

    unseen = {r["object_number"]: True for r in statues[TRAIN_PER_CLASS:]}
    unseen.update({r["object_number"]: False for r in vessels[TRAIN_PER_CLASS:]})
    body = api.post(
        "/custom/predict_batch", {"image_id": list(unseen), "tags": ["statue"]}, format="json"
    ).json()
    right = sum(
        body["predictions"][i]["statue"]["prediction"] == truth for i, truth in unseen.items()
    )
    assert right / len(unseen) >= 0.8, f"{right}/{len(unseen)} right"
