"""Bulk actions on the image list: an intermediate page picks (or creates) the tag or the
class, then the whole selection is labelled at once."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from custom_tagging.models import Assignment, CustomTag
from exporters.dataset import read_manifest
from exporters.naive import muses_exporter_plugin as exporter
from muses.collection.models import Image

pytestmark = pytest.mark.django_db
URL = reverse("admin:collection_image_changelist")


def pks(images) -> list[str]:
    return [str(image.pk) for image in images]


def run_action(client, action, images, url=URL, **fields):
    """Post the action as the changelist does, then as its intermediate page does."""
    data = {"action": action, "index": 0, ACTION_CHECKBOX_NAME: pks(images), **fields}
    return client.post(url, data)


def labels(tag_name: str) -> dict[str, str]:
    rows = Assignment.objects.filter(tag__name=tag_name)
    return dict(rows.values_list("image__image_id", "label"))


def test_marking_positive_first_shows_an_intermediate_page(admin_client, collection):
    images = list(collection.values())[:3]
    response = run_action(admin_client, "mark_positive", images)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Mark images positive for a tag" in html
    assert "<strong>3</strong> images selected" in html
    assert html.count(f'name="{ACTION_CHECKBOX_NAME}"') == 3
    assert Assignment.objects.count() == 0


def test_marking_positive_with_a_new_tag_creates_it_and_labels_the_selection(
    admin_client, collection
):
    images = [collection["met-10-1"], collection["met-10-2"]]
    response = run_action(admin_client, "mark_positive", images, apply="1", new_tag="red ware")
    assert response.status_code == 302
    assert labels("red ware") == {"met-10-1": "positive", "met-10-2": "positive"}
    assert Assignment.objects.get(image=images[0]).assigned_by.username == "admin"


def test_marking_negative_switches_the_label_of_images_already_assigned(admin_client, collection):
    tag = CustomTag.objects.create(name="red")
    run_action(admin_client, "mark_positive", collection.values(), apply="1", tag=tag.pk)
    run_action(admin_client, "mark_negative", [collection["met-10-3"]], apply="1", tag=tag.pk)
    assert labels("red")["met-10-3"] == "negative"
    assert list(labels("red").values()).count("positive") == 5


def test_the_result_is_reported_as_a_message(admin_client, collection):
    tag = CustomTag.objects.create(name="red")
    response = run_action(admin_client, "mark_negative", collection.values(), apply="1", tag=tag.pk)
    page = admin_client.get(response.url)
    assert "6 images marked negative for “red”." in page.content.decode()


def test_remove_from_tag_deletes_only_that_tags_assignments(admin_client, collection):
    images = [collection["met-10-1"], collection["met-10-2"]]
    for name in ("red", "old"):
        run_action(admin_client, "mark_positive", images, apply="1", new_tag=name)
    old = CustomTag.objects.get(name="old")
    run_action(admin_client, "remove_from_tag", images[:1], apply="1", tag=old.pk)
    assert labels("old") == {"met-10-2": "positive"}
    assert len(labels("red")) == 2


def test_remove_from_tag_offers_no_new_tag(admin_client, collection):
    html = run_action(admin_client, "remove_from_tag", [collection["met-10-1"]]).content.decode()
    assert 'name="tag"' in html and 'name="new_tag"' not in html


def test_an_invalid_new_tag_name_is_refused_on_the_intermediate_page(admin_client, collection):
    response = run_action(
        admin_client, "mark_positive", [collection["met-10-1"]], apply="1", new_tag="a/b"
    )
    assert response.status_code == 200
    assert "cannot contain &#x27;/&#x27;" in response.content.decode()
    assert not CustomTag.objects.exists()


def test_choosing_no_tag_at_all_is_refused(admin_client, collection):
    response = run_action(admin_client, "mark_positive", [collection["met-10-1"]], apply="1")
    assert "Choose a tag or name a new one." in response.content.decode()
    assert Assignment.objects.count() == 0


def test_select_all_labels_every_image_that_matches_the_filters(admin_client, collection):
    url = f"{URL}?item__museum=Met"
    data = {"action": "mark_positive", "index": 0, "select_across": "1"}
    page = admin_client.post(url, {**data, ACTION_CHECKBOX_NAME: pks(collection.values())[:1]})
    assert "(all that match the filters)" in page.content.decode()
    assert "<strong>3</strong>" in page.content.decode()
    selected = {ACTION_CHECKBOX_NAME: pks(collection.values())[:1]}
    admin_client.post(url, {**data, **selected, "apply": "1", "new_tag": "met"})
    assert set(labels("met")) == {"met-10-1", "met-10-2", "met-10-3"}


def test_set_curator_class_offers_the_classes_of_the_definitions(admin_client, collection):
    html = run_action(admin_client, "set_curator_class", [collection["met-10-1"]]).content
    assert b'<option value="statuary">statuary</option>' in html


def test_set_curator_class_sets_and_clears_the_class(admin_client, collection):
    images = [collection["met-10-1"], collection["met-10-2"]]
    run_action(admin_client, "set_curator_class", images, apply="1", curator_class="tool")
    assert set(Image.objects.filter(curator_class="tool").values_list("image_id", flat=True)) == {
        "met-10-1",
        "met-10-2",
    }
    run_action(admin_client, "set_curator_class", images[:1], apply="1", curator_class="")
    assert Image.objects.get(image_id="met-10-1").curator_class == ""


def test_set_curator_class_refuses_a_class_not_in_the_definitions(admin_client, collection):
    response = run_action(
        admin_client, "set_curator_class", [collection["met-10-1"]], apply="1", curator_class="x"
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert Image.objects.get(image_id="met-10-1").curator_class == ""


def test_a_curator_class_overrides_the_naive_label_in_the_next_export(
    admin_client, collection, tmp_path
):
    run_action(
        admin_client, "set_curator_class", [collection["met-10-1"]], apply="1", curator_class="tool"
    )
    exporter.do_export(output=tmp_path / "dataset", out=open("/dev/null", "w"), progress=False)
    rows = {row["image_id"]: row for row in read_manifest(tmp_path / "dataset")}
    assert rows["met-10-1"]["class"] == "tool"
    assert rows["met-10-1"]["field"] == "curator_class"


def test_a_user_without_change_permission_gets_no_labelling_actions(client, django_user_model):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_image"))
    client.force_login(viewer)
    html = client.get(URL).content.decode()
    assert "mark_positive" not in html and "set_curator_class" not in html
