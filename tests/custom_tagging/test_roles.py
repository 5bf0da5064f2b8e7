"""Roles: a token's user reads and predicts; labelling needs the 'label' role; deleting,
resetting and whole-state operations need 'curate' (muses.roles)."""

import io
import tarfile

import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from custom_tagging.models import Assignment, CustomTag, TagVersion
from tests.custom_tagging.conftest import RED


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def reader(db, django_user_model):
    """A volunteer's script: a token, no group."""
    return client_for(django_user_model.objects.create_user("volunteer", password="pw"))


@pytest.fixture
def labeller(db, django_user_model):
    user = django_user_model.objects.create_user("labeller", password="pw")
    user.groups.add(Group.objects.get(name="Labellers"))
    return client_for(user)


def an_empty_state_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w"):
        pass
    return buffer.getvalue()


def test_a_reader_may_list_look_and_predict(reader, trained_tag):
    trained_tag("red")
    assert reader.get("/api/tags").status_code == 200
    assert reader.get("/api/tags/red/assignments").status_code == 200
    assert reader.get("/custom/predict/red/red-pos-0").status_code == 200
    assert reader.get("/custom/predict_batch?image_id=red-pos-0&tags=red").status_code == 200


def test_a_reader_cannot_wipe_the_curators_work(reader, trained_tag, upload):
    trained_tag("red")
    attempts = [
        reader.delete("/api/tags/red"),
        reader.get("/custom/delete/red"),
        reader.post("/custom/delete/red"),
        reader.get("/get_state"),
        reader.post("/set_state", {"data": upload(RED)}, format="multipart"),
    ]
    assert [r.status_code for r in attempts] == [403] * 5
    detail = attempts[0].json()["detail"]
    assert "'curate' role" in detail and "Curators" in detail and "'volunteer'" in detail
    assert CustomTag.objects.filter(name="red").exists()
    assert Assignment.objects.count() == 12 and TagVersion.objects.count() == 1


def test_a_reader_cannot_label_train_or_add_images(reader, labelled_tag, upload):
    labelled_tag("red")
    attempts = [
        reader.get("/custom/assign/red-pos-0/negative/red"),
        reader.get("/custom/train/red"),
        reader.post("/api/tags", {"name": "blue"}, format="json"),
        reader.post("/system/database/image/add", {"data": upload(RED)}, format="multipart"),
        reader.delete("/api/tags/red/assignments/red-pos-0"),
    ]
    assert [r.status_code for r in attempts] == [403] * 5
    assert "'label' role" in attempts[0].json()["detail"]
    assert Assignment.objects.get(image__image_id="red-pos-0").label == "positive"
    assert not CustomTag.objects.filter(name="blue").exists()


def test_a_labeller_may_label_and_train_but_not_delete_or_replace_everything(
    labeller, labelled_tag
):
    labelled_tag("red")
    assert labeller.get("/custom/assign/red-neg-0/positive/red").status_code == 200
    assert labeller.get("/custom/train/red").status_code == 202
    assert labeller.delete("/api/tags/red").status_code == 403
    assert labeller.get("/custom/delete/red").status_code == 403
    assert labeller.get("/get_state").status_code == 403
    assert CustomTag.objects.filter(name="red").exists()


def test_a_staff_user_may_curate_without_a_group(db, django_user_model, labelled_tag):
    labelled_tag("red")
    staff = client_for(django_user_model.objects.create_user("keeper", is_staff=True))
    assert staff.get("/get_state").status_code == 200
    assert staff.delete("/api/tags/red").status_code == 200
    assert not CustomTag.objects.exists()


def test_a_curator_may_replace_the_state(api):
    response = api.post("/set_state", {"data": an_empty_state_tar()}, format="multipart")
    assert response.status_code != 403


def test_the_schema_names_the_role_of_each_operation(api):
    schema = api.get("/api/schema/?format=json").json()
    tag = schema["paths"]["/api/tags/{tag}"]
    assert tag["delete"]["x-muses-role"] == "curate"
    assert "Curators" in tag["delete"]["responses"]["403"]["description"]
    assert tag["patch"]["x-muses-role"] == "label"
    assert tag["get"]["x-muses-role"] == "read"
    assert schema["paths"]["/set_state"]["post"]["x-muses-role"] == "curate"


@pytest.mark.django_db(transaction=True)
def test_the_role_groups_come_back_after_the_database_is_flushed():
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)
    curators = Group.objects.get(name="Curators")
    assert {p.codename for p in curators.permissions.all()} == {"label", "curate"}
    labellers = Group.objects.get(name="Labellers")
    assert {p.codename for p in labellers.permissions.all()} == {"label"}
