"""The image changelist: a thumbnail grid with previews, and its filters."""

import pytest
from django.urls import reverse

from custom_tagging.selectors import tag_get
from custom_tagging.services.tags import assignment_set
from tests.admin.conftest import changelist_ids

pytestmark = pytest.mark.django_db
URL = reverse("admin:collection_image_changelist")


def test_the_image_list_is_a_thumbnail_grid_with_a_large_preview(admin_client, collection):
    html = admin_client.get(URL).content.decode()
    assert 'id="muses-results" class="muses-grid"' in html
    assert 'class="muses-thumb" data-preview="/media/images/' in html
    assert 'id="muses-preview"' in html and 'data-testid="view-toggle"' in html


def test_the_image_list_shows_each_images_naive_class_and_deciding_word(admin_client, collection):
    html = admin_client.get(URL).content.decode()
    assert 'vessel <span class="muses-muted">“jar”</span>' in html
    assert "no class word" in html


def test_the_image_list_filters_by_museum(admin_client, collection):
    response = admin_client.get(URL, {"item__museum": "Cleveland"})
    assert changelist_ids(response) == {"cleveland-1914-1", "cleveland-1914-2"}


def test_the_image_list_filters_by_object_type(admin_client, collection):
    response = admin_client.get(URL, {"item__object_type": "Amulet"})
    assert changelist_ids(response) == {"met-10-3"}


def test_the_image_list_filters_by_naive_class(admin_client, collection):
    assert changelist_ids(admin_client.get(URL, {"naive_class": "vessel"})) == {"met-10-1"}
    assert changelist_ids(admin_client.get(URL, {"naive_class": "jewellery"})) == {"chicago-E-1"}


def test_the_naive_class_filter_finds_records_without_a_class_word(admin_client, collection):
    response = admin_client.get(URL, {"naive_class": "_no_word"})
    assert changelist_ids(response) == {"cleveland-1914-2"}


def test_the_naive_class_filter_finds_ambiguous_records_without_priorities(
    admin_client, collection, no_class_priority
):
    response = admin_client.get(URL, {"naive_class": "_ambiguous"})
    assert changelist_ids(response) == {"chicago-E-1"}


def test_a_curator_class_wins_over_the_words_in_the_naive_class_filter(admin_client, collection):
    jar = collection["met-10-1"]
    jar.curator_class = "statuary"
    jar.save()
    assert changelist_ids(admin_client.get(URL, {"naive_class": "vessel"})) == set()
    statuary = changelist_ids(admin_client.get(URL, {"naive_class": "statuary"}))
    assert statuary == {"met-10-1", "met-10-2"}


def test_the_naive_class_filter_combines_with_the_other_filters(admin_client, collection):
    response = admin_client.get(URL, {"naive_class": "amulet", "item__museum": "Cleveland"})
    assert changelist_ids(response) == set()


def test_the_image_list_filters_by_predicted_and_curator_class(admin_client, collection):
    collection["met-10-2"].__class__.objects.filter(image_id="met-10-2").update(
        predicted_class="statuary", predicted_probability=0.9, curator_class="statuary"
    )
    assert changelist_ids(admin_client.get(URL, {"predicted_class": "statuary"})) == {"met-10-2"}
    assert changelist_ids(admin_client.get(URL, {"curator_class": "statuary"})) == {"met-10-2"}
    assert "statuary (90%)" in admin_client.get(URL).content.decode()


def test_the_image_list_filters_by_label_for_a_chosen_tag(admin_client, collection):
    assignment_set(image=collection["met-10-1"], tag_name="red", label="positive")
    assignment_set(image=collection["met-10-3"], tag_name="red", label="negative")
    assignment_set(image=collection["met-10-2"], tag_name="other", label="positive")
    tag = tag_get(name="red")
    assert changelist_ids(admin_client.get(URL, {"tag_label": f"{tag.pk}:positive"})) == {
        "met-10-1"
    }
    assert changelist_ids(admin_client.get(URL, {"tag_label": f"{tag.pk}:negative"})) == {
        "met-10-3"
    }
    unlabelled = changelist_ids(admin_client.get(URL, {"tag_label": f"{tag.pk}:none"}))
    assert unlabelled == set(collection) - {"met-10-1", "met-10-3"}


def test_the_tag_label_filter_lists_each_tag_with_its_three_choices(admin_client, collection):
    assignment_set(image=collection["met-10-1"], tag_name="red", label="positive")
    html = admin_client.get(URL).content.decode()
    assert "red: positive" in html and "red: negative" in html and "red: not labelled" in html


def test_the_image_list_filters_by_has_features(admin_client, collection, with_features):
    with_features([collection["met-10-1"], collection["met-10-2"]])
    assert changelist_ids(admin_client.get(URL, {"has_features": "yes"})) == {
        "met-10-1",
        "met-10-2",
    }
    assert len(changelist_ids(admin_client.get(URL, {"has_features": "no"}))) == 4


def test_the_image_list_shows_each_images_tag_labels(admin_client, collection):
    assignment_set(image=collection["met-10-1"], tag_name="red", label="positive")
    html = admin_client.get(URL).content.decode()
    assert '<span class="muses-label muses-label-positive">red +</span>' in html


def test_the_image_list_needs_a_constant_number_of_queries(
    admin_client, collection, django_assert_max_num_queries
):
    for image in collection.values():
        assignment_set(image=image, tag_name="red", label="positive")
    with django_assert_max_num_queries(14):
        admin_client.get(URL)


def test_the_filters_can_show_counts(admin_client, collection):
    assignment_set(image=collection["met-10-1"], tag_name="red", label="positive")
    response = admin_client.get(URL, {"_facets": "True", "naive_class": "vessel"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "vessel (1)" in html and "statuary (1)" in html and "red: positive (1)" in html
