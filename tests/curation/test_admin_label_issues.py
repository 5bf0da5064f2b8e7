"""The admin's "Review likely errors" pages and their one-click fixes."""

import pytest
from django.urls import reverse

from custom_tagging.models import Assignment
from custom_tagging.selectors import tag_get
from custom_tagging.services.training import training_data_get
from exporters.naive import muses_exporter_plugin as exporter
from muses.collection.models import Image
from tests.curation.conftest import RED

NAIVE = reverse("admin:curation_naive_issues")
NAIVE_FIX = reverse("admin:curation_naive_fix")


def card_ids(response) -> list[str]:
    return [card["image_id"] for card in response.context["cards"]]


@pytest.fixture
def red_tag_with_a_wrong_negative(labelled_tag, add_image, api):
    labelled_tag("red", positives=8, negatives=8)
    add_image("red-marked-negative", RED)
    api.get("/custom/assign/red-marked-negative/negative/red")
    tag = tag_get(name="red")
    return tag, reverse("admin:curation_tag_issues", args=[tag.pk])


def test_the_index_links_the_naive_dataset_and_every_tag(admin_client, labelled_tag):
    labelled_tag("red")
    response = admin_client.get(reverse("admin:curation_label_issues"))
    assert response.status_code == 200
    assert NAIVE.encode() in response.content
    assert b"red" in response.content
    assert b"Review likely errors" in admin_client.get(reverse("admin:index")).content


def test_the_naive_page_shows_given_and_suggested_labels(admin_client, jars_and_coins):
    response = admin_client.get(NAIVE)
    assert response.status_code == 200
    assert card_ids(response)[0] == "rec-16"
    card = response.context["cards"][0]
    assert (card["given"], card["suggested"]) == ("vessel", "coin")
    assert b"Set coin" in response.content and b"Keep vessel" in response.content


def test_viewing_the_page_changes_no_label(admin_client, jars_and_coins):
    admin_client.get(NAIVE)
    assert not Image.objects.exclude(curator_class="").exists()


def test_one_click_sets_the_curator_class_that_the_next_export_uses(admin_client, jars_and_coins):
    response = admin_client.post(
        NAIVE_FIX, {"image_id": "rec-16", "class_name": "coin", "next": NAIVE}
    )
    assert response.status_code == 302 and response["Location"] == NAIVE
    image = Image.objects.select_related("item").get(image_id="rec-16")
    assert image.curator_class == "coin"
    assert exporter.label_image(image, exporter.labeller()).class_name == "coin"
    assert "rec-16" not in card_ids(admin_client.get(NAIVE))


def test_keeping_the_given_class_stops_listing_the_record(admin_client, jars_and_coins):
    admin_client.post(NAIVE_FIX, {"image_id": "rec-16", "class_name": "vessel"})
    assert Image.objects.get(image_id="rec-16").curator_class == "vessel"
    assert "rec-16" not in card_ids(admin_client.get(NAIVE))


def test_an_unknown_class_changes_nothing(admin_client, jars_and_coins):
    response = admin_client.post(
        NAIVE_FIX, {"image_id": "rec-16", "class_name": "spaceship", "next": NAIVE}, follow=True
    )
    assert b"not a class" in response.content
    assert Image.objects.get(image_id="rec-16").curator_class == ""


def test_the_tag_page_suggests_flipping_a_red_negative(admin_client, red_tag_with_a_wrong_negative):
    _, url = red_tag_with_a_wrong_negative
    response = admin_client.get(url)
    assert card_ids(response)[0] == "red-marked-negative"
    assert b"Make positive" in response.content


def test_flipping_makes_it_a_positive_that_training_uses(
    admin_client, red_tag_with_a_wrong_negative
):
    tag, url = red_tag_with_a_wrong_negative
    fix = reverse("admin:curation_tag_fix", args=[tag.pk])
    admin_client.post(fix, {"image_id": "red-marked-negative", "action": "flip", "next": url})
    assignment = Assignment.objects.get(tag=tag, image__image_id="red-marked-negative")
    assert assignment.label == "positive"
    _, y, _ = training_data_get(tag=tag)
    assert int(y.sum()) == 9
    assert "red-marked-negative" not in card_ids(admin_client.get(url))


def test_removing_takes_the_image_out_of_the_tag(admin_client, red_tag_with_a_wrong_negative):
    tag, _ = red_tag_with_a_wrong_negative
    fix = reverse("admin:curation_tag_fix", args=[tag.pk])
    admin_client.post(fix, {"image_id": "red-marked-negative", "action": "remove"})
    assert not Assignment.objects.filter(tag=tag, image__image_id="red-marked-negative").exists()


def test_a_tag_with_too_few_labels_says_so(admin_client, labelled_tag):
    labelled_tag("red", positives=6, negatives=2)
    tag = tag_get(name="red")
    response = admin_client.get(reverse("admin:curation_tag_issues", args=[tag.pk]))
    assert response.status_code == 200
    assert b"at least 3 positive and 3 negative" in response.content


def test_staff_without_change_permission_cannot_fix(client, django_user_model, jars_and_coins):
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(viewer)
    response = client.post(NAIVE_FIX, {"image_id": "rec-16", "class_name": "coin"})
    assert response.status_code == 403
    assert Image.objects.get(image_id="rec-16").curator_class == ""
