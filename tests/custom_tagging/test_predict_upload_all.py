"""POST /predict (data=image): custom tags plus the base models."""

import sys
import types

from tests.custom_tagging.conftest import RED


def test_it_gives_custom_tags_and_imagenet_keywords_with_scores(api, trained_tag, upload, settings):
    settings.MUSES_CONFIG = {"classification": {"naive_classification": {"model_path": ""}}}
    trained_tag("red")
    response = api.post("/predict", {"data": upload(RED)}, format="multipart")
    assert response.status_code == 200
    body = response.json()
    assert body["custom"]["red"]["prediction"] is True
    keywords = body["imagenet_keywords"]
    assert len(keywords) == 5
    assert all(isinstance(k["keyword"], str) and 0 <= k["score"] <= 1 for k in keywords)
    assert "naive_classification" not in body


def test_it_adds_the_naive_classifier_when_a_model_is_configured(
    api, upload, settings, monkeypatch, tmp_path
):
    calls = []

    def predict_image_path_dict(path, model_path):
        calls.append((open(path, "rb").read()[:2], model_path))
        return {"coin": 0.9, "statue": 0.1}

    helpers = types.ModuleType("naive_classification.helpers")
    helpers.predict_image_path_dict = predict_image_path_dict
    monkeypatch.setitem(sys.modules, "naive_classification.helpers", helpers)
    settings.MUSES_CONFIG = {
        "classification": {"naive_classification": {"model_path": str(tmp_path / "m.h5")}}
    }
    body = api.post("/predict", {"data": upload(RED)}, format="multipart").json()
    assert body["naive_classification"] == {"classes": {"coin": 0.9, "statue": 0.1}}
    assert calls == [(b"\xff\xd8", str(tmp_path / "m.h5"))]  # a real JPEG file on disk


def test_a_broken_naive_model_is_reported_without_failing_the_request(
    api, upload, settings, monkeypatch
):
    helpers = types.ModuleType("naive_classification.helpers")

    def predict_image_path_dict(path, model_path):
        raise OSError("model file not found")

    helpers.predict_image_path_dict = predict_image_path_dict
    monkeypatch.setitem(sys.modules, "naive_classification.helpers", helpers)
    settings.MUSES_CONFIG = {"classification": {"naive_classification": {"model_path": "x.h5"}}}
    response = api.post("/predict", {"data": upload(RED)}, format="multipart")
    assert response.status_code == 200
    assert "model file not found" in response.json()["naive_classification"]["error"]


def test_it_needs_the_data_field(api):
    assert api.post("/predict", {}, format="multipart").status_code == 400


def test_it_needs_a_token(anonymous, upload):
    assert anonymous.post("/predict", {"data": upload(RED)}, format="multipart").status_code == 401
