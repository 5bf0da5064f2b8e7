"""The map of the collection: layout, placing new images, the points and the lasso's actions."""

import json

import numpy as np
import pytest
from django.urls import reverse

from curation.layout import layout, place
from curation.models import MapPoint
from curation.services import collection_map
from custom_tagging.models import Assignment
from muses.collection.models import Image
from tests.curation.conftest import BLUE, RED, shade

POINTS = reverse("admin:curation_map_points")
APPLY = reverse("admin:curation_map_apply")


@pytest.fixture
def reds_and_blues(record_images):
    rows = [("Jar", "Vessel", shade(RED, i)) for i in range(10)]
    rows += [("Coin", "Coin", shade(BLUE, i)) for i in range(10)]
    return record_images(rows)


def test_the_layout_keeps_two_kinds_of_picture_apart():
    rng = np.random.default_rng(0)
    features = np.vstack([rng.normal(0, 1, (30, 16)) + 5, rng.normal(0, 1, (30, 16)) - 5])
    xy = layout(features.astype(np.float32))
    assert xy.shape == (60, 2) and xy.min() >= 0 and xy.max() <= 1
    kind = np.repeat([0, 1], 30)
    # Apart, not merely with different means: every point sits nearer its own kind's centre
    # than the other's, and its nearest neighbour on the map is of its own kind.
    centres = np.stack([xy[:30].mean(axis=0), xy[30:].mean(axis=0)])
    to_centres = np.linalg.norm(xy[:, None] - centres[None], axis=2)
    assert (to_centres.argmin(axis=1) == kind).all()
    distances = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    np.fill_diagonal(distances, np.inf)
    assert (kind[distances.argmin(axis=1)] == kind).all()
    assert np.linalg.norm(centres[0] - centres[1]) > 0.3


def test_a_new_image_is_placed_beside_its_look_alikes_and_nothing_moves():
    rng = np.random.default_rng(1)
    features = np.vstack([rng.normal(0, 1, (20, 8)) + 4, rng.normal(0, 1, (20, 8)) - 4])
    xy = np.vstack([np.full((20, 2), 0.1), np.full((20, 2), 0.9)]).astype(np.float32)
    new = place(features, xy, (features[:1] + 0.01).astype(np.float32))
    assert np.allclose(new, [[0.1, 0.1]], atol=1e-3)


def test_it_lays_out_every_image_with_features(reds_and_blues):
    assert collection_map.map_layout_compute() == 20
    assert MapPoint.objects.filter(placed=False).count() == 20


def test_images_added_later_are_placed_without_a_new_layout(reds_and_blues, record_images):
    collection_map.map_layout_compute()
    before = dict(MapPoint.objects.values_list("image_id", "x"))
    record_images([("Jar", "Vessel", RED)])
    assert collection_map.map_points_place_new() == 1
    after = dict(MapPoint.objects.filter(placed=False).values_list("image_id", "x"))
    assert after == before


def test_no_features_yet_is_a_clear_error(db):
    from curation.exceptions import FeaturesMissing

    with pytest.raises(FeaturesMissing, match="muses_extract_features"):
        collection_map.map_layout_compute()


def test_the_points_carry_positions_and_naive_classes(admin_client, reds_and_blues):
    collection_map.map_layout_compute()
    body = admin_client.get(POINTS).json()
    assert len(body["ids"]) == len(body["x"]) == len(body["values"]) == 20
    assert set(body["values"]) == {"vessel", "coin"}
    assert body["urls"][0].startswith("/media/")


def test_an_unknown_colouring_or_tag_is_refused(admin_client, reds_and_blues):
    assert admin_client.get(POINTS + "?colour=smell").status_code == 400
    assert admin_client.get(POINTS + "?colour=tag:ghost").status_code == 404


def apply(client, **body):
    return client.post(APPLY, json.dumps(body), content_type="application/json")


def test_a_selection_is_marked_positive_for_a_tag(admin_client, reds_and_blues):
    chosen = [image.image_id for image in reds_and_blues[:10]]
    response = apply(admin_client, image_ids=chosen, action="positive", tag="red")
    assert response.json() == {"changed": 10}
    labels = dict(Assignment.objects.values_list("image__image_id", "label"))
    assert labels == {image_id: "positive" for image_id in chosen}


def test_a_selection_gets_a_curator_class(admin_client, reds_and_blues):
    chosen = [image.image_id for image in reds_and_blues[10:]]
    apply(admin_client, image_ids=chosen, action="curator_class", class_name="coin")
    coins = Image.objects.filter(curator_class="coin").values_list("image_id", flat=True)
    assert set(coins) == set(chosen)


def test_bad_selections_change_nothing(admin_client, reds_and_blues):
    ids = [reds_and_blues[0].image_id]
    assert apply(admin_client, image_ids=ids, action="burn").status_code == 400
    assert apply(admin_client, image_ids=["ghost"], action="positive", tag="t").status_code == 400
    bad_class = apply(admin_client, image_ids=ids, action="curator_class", class_name="ufo")
    assert bad_class.status_code == 400
    not_json = admin_client.post(APPLY, "{", content_type="application/json")
    assert not_json.status_code == 400
    assert apply(admin_client, image_ids=5, action="positive", tag="t").status_code == 400
    assert admin_client.post(APPLY, "[1]", content_type="application/json").status_code == 400
    assert not Assignment.objects.exists() and not Image.objects.exclude(curator_class="").exists()


def test_the_map_page_renders(admin_client, reds_and_blues):
    response = admin_client.get(reverse("admin:curation_map"))
    assert response.status_code == 200
    assert b'data-testid="map"' in response.content


def test_a_selection_body_nested_100k_deep_is_400_not_500(admin_client, reds_and_blues):
    deep = "[" * 100_000 + "]" * 100_000
    response = admin_client.post(APPLY, deep, content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]
