"""GET|POST /custom/predict_batch?image_id=a,b&tags=x,y"""

from tests.custom_tagging.conftest import BLUE


def test_it_scores_many_images_by_many_tags_in_the_order_asked(api, trained_tag, add_image):
    trained_tag("red")
    trained_tag("crimson")
    add_image("b1", BLUE)
    response = api.get("/custom/predict_batch?image_id=b1,red-pos-0&tags=red,crimson")
    assert response.status_code == 200
    body = response.json()
    assert list(body["predictions"]) == ["b1", "red-pos-0"]
    assert list(body["predictions"]["b1"]) == ["red", "crimson"]
    assert body["predictions"]["red-pos-0"]["red"]["prediction"] is True
    assert body["predictions"]["b1"]["red"]["prediction"] is False
    assert body["unknown_image_ids"] == []


def test_batch_results_equal_the_single_image_results(api, trained_tag, add_image):
    trained_tag("red")
    add_image("mid", (150, 90, 90))
    single = api.get("/custom/predict/red/mid").json()
    batch = api.get("/custom/predict_batch?image_id=mid&tags=red").json()["predictions"]["mid"]
    assert batch["red"] == {k: single[k] for k in ("score", "prediction", "threshold", "version")}


def test_without_tags_it_uses_every_trained_tag(api, trained_tag):
    trained_tag("red")
    body = api.get("/custom/predict_batch?image_id=red-pos-0").json()
    assert list(body["predictions"]["red-pos-0"]) == ["red"]


def test_unknown_image_ids_are_listed_not_fatal(api, trained_tag):
    trained_tag("red")
    body = api.get("/custom/predict_batch?image_id=red-pos-0,ghost,,ghost&tags=red").json()
    assert list(body["predictions"]) == ["red-pos-0"]
    assert body["unknown_image_ids"] == ["ghost"]


def test_an_unknown_tag_is_404(api, trained_tag):
    trained_tag("red")
    response = api.get("/custom/predict_batch?image_id=red-pos-0&tags=red,ghost")
    assert response.status_code == 404
    assert "'ghost'" in response.json()["detail"]


def test_an_untrained_tag_is_409(api, trained_tag, labelled_tag):
    trained_tag("red")
    labelled_tag("blue")
    response = api.get("/custom/predict_batch?image_id=red-pos-0&tags=red,blue")
    assert response.status_code == 409


def test_it_needs_image_ids(api):
    response = api.get("/custom/predict_batch?tags=red")
    assert response.status_code == 400
    assert "image_id=" in response.json()["detail"]


def test_post_takes_long_lists_in_a_json_body(api, trained_tag):
    trained_tag("red")
    ids = [f"red-pos-{i}" for i in range(6)] + [f"missing-{i}" for i in range(3000)]
    response = api.post("/custom/predict_batch", {"image_id": ids, "tags": ["red"]}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert len(body["predictions"]) == 6 and len(body["unknown_image_ids"]) == 3000


def test_it_needs_a_token(anonymous):
    assert anonymous.get("/custom/predict_batch?image_id=a").status_code == 401


def test_a_stored_image_without_features_yet_is_scored_not_called_unknown(
    api, trained_tag, make_image
):
    trained_tag("red")
    make_image("imported", color=(205, 35, 30))  # stored as an import stores it: no features
    body = api.get("/custom/predict_batch?image_id=imported,ghost&tags=red").json()
    assert body["predictions"]["imported"]["red"]["prediction"] is True
    assert body["unknown_image_ids"] == ["ghost"]
    assert body["pending_image_ids"] == []


def test_images_beyond_the_per_request_bound_are_reported_pending_with_why(
    api, trained_tag, make_image, settings
):
    settings.MUSES_BATCH_COMPUTE_MAX = 1
    trained_tag("red")
    make_image("first", color=(205, 35, 30))
    make_image("second", color=(200, 40, 30))
    body = api.get("/custom/predict_batch?image_id=first,second&tags=red").json()
    assert list(body["predictions"]) == ["first"]
    assert body["pending_image_ids"] == ["second"]
    assert body["unknown_image_ids"] == []
    assert "at most 1" in body["pending_detail"]


def test_a_json_array_body_is_refused_with_400(api, trained_tag):
    trained_tag("red")
    response = api.post("/custom/predict_batch", ["red-pos-0"], format="json")
    assert response.status_code == 400
    assert "JSON object" in response.json()["detail"]


def test_tags_that_are_not_text_are_refused_not_ignored(api, trained_tag):
    trained_tag("red")
    body = {"image_id": "red-pos-0", "tags": 7}
    response = api.post("/custom/predict_batch", body, format="json")
    assert response.status_code == 400
    assert "'tags' must be" in response.json()["detail"]


def test_nested_lists_of_image_ids_are_refused_not_coerced(api, trained_tag):
    trained_tag("red")
    body = {"image_id": [["red-pos-0"]], "tags": ["red"]}
    response = api.post("/custom/predict_batch", body, format="json")
    assert response.status_code == 400
    assert "'image_id' must be" in response.json()["detail"]


def test_a_batch_of_unknown_ids_is_answered_when_no_vector_is_stored_yet(
    api, trained_tag, settings, tmp_path
):
    from muses.vision.feature_index.handle import feature_indexes_close
    from muses.vision.models import ImageFeature

    trained_tag("red")  # a trained tag, as after loading a state without features
    ImageFeature.objects.all().delete()
    settings.MUSES_INDEX_DIR = tmp_path / "empty-index"
    feature_indexes_close()
    response = api.get("/custom/predict_batch?image_id=nobody&tags=red")
    assert response.status_code == 200, response.content
    assert response.json()["unknown_image_ids"] == ["nobody"]
