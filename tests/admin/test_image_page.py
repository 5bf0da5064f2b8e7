"""One image's page: its record, its naive label and the word that decided it, its predicted
class, and its score for every custom tag."""

import pytest
from django.urls import reverse

from custom_tagging.services.predictions import image_predictions
from custom_tagging.services.tags import assignment_set
from muses.collection.models import Image

pytestmark = pytest.mark.django_db


def page(client, image) -> str:
    response = client.get(reverse("admin:collection_image_change", args=[image.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_image_page_shows_the_record_of_its_item(admin_client, collection):
    html = page(admin_client, collection["met-10-1"])
    assert "Jar with lid" in html and "Vessel" in html and "Met" in html
    assert reverse("admin:collection_item_change", args=[collection["met-10-1"].item.pk]) in html


def test_the_image_page_shows_the_naive_label_and_the_word_that_decided_it(
    admin_client, collection
):
    html = page(admin_client, collection["met-10-2"])
    assert "<strong>statuary</strong>, decided by the word “statue” in the title" in html


def test_the_image_page_says_when_a_curator_set_the_class(admin_client, collection):
    Image.objects.filter(pk=collection["met-10-1"].pk).update(curator_class="tool")
    html = page(admin_client, Image.objects.get(pk=collection["met-10-1"].pk))
    assert "<strong>tool</strong>, set by a curator" in html


def test_the_image_page_says_why_a_record_got_no_naive_label(admin_client, collection):
    assert "none (no class word)" in page(admin_client, collection["cleveland-1914-2"])


def test_the_image_page_shows_the_predicted_class(admin_client, collection):
    Image.objects.filter(pk=collection["met-10-1"].pk).update(
        predicted_class="vessel", predicted_probability=0.8125
    )
    html = page(admin_client, collection["met-10-1"])
    assert "vessel" in html and "0.8125" in html


def test_the_image_page_offers_the_definitions_classes_as_curator_class(admin_client, collection):
    html = page(admin_client, collection["met-10-1"])
    assert '<option value="shabti">shabti</option>' in html


def test_saving_the_image_page_stores_the_curator_class(admin_client, collection):
    image = collection["met-10-1"]
    url = reverse("admin:collection_image_change", args=[image.pk])
    response = admin_client.post(url, {"item": image.item.pk, "curator_class": "coin"})
    assert response.status_code == 302
    assert Image.objects.get(pk=image.pk).curator_class == "coin"


def test_the_image_page_shows_the_score_for_every_trained_tag(admin_client, trained_tag):
    tag, images = trained_tag("red")
    assignment_set(image=images["reds"][0], tag_name="blue", label="negative")
    html = page(admin_client, images["others"][1])
    red = image_predictions(image=images["others"][1])["red"]
    assert f"<td>red</td><td>—</td><td>{red['score']:.4f}</td>" in html
    assert f"v2 ({red['threshold']:.4f})" in html
    assert "<td>blue</td><td>—</td><td>—</td><td>—</td><td>—</td>" in html


def test_the_image_page_shows_its_own_labels_next_to_the_scores(admin_client, trained_tag):
    tag, images = trained_tag("red")
    html = page(admin_client, images["reds"][0])
    assert "<td>red</td><td>positive</td>" in html


def test_the_image_page_says_when_features_are_missing(admin_client, trained_tag, collection):
    trained_tag("red")
    html = page(admin_client, collection["met-10-1"])
    assert "No stored features yet" in html
