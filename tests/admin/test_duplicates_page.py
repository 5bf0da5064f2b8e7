"""The near-duplicates page: groups to review, keep apart or merge; the image list filter."""

import pytest
from django.urls import reverse

from muses.vision.models import DuplicateGroup, DuplicateMember, VisionJob
from tests.admin.conftest import changelist_ids

pytestmark = pytest.mark.django_db
URL = reverse("admin:vision_duplicates")
# The admin collection's images of one flat colour each (tests/admin/conftest.py RECORDS).
SAME_COLOUR_PAIRS = {
    frozenset({"met-10-1", "met-10-2"}),
    frozenset({"met-10-3", "cleveland-1914-1"}),
    frozenset({"cleveland-1914-2", "chicago-E-1"}),
}


@pytest.fixture
def open_group(collection):
    group = DuplicateGroup.objects.create()
    for image_id in ("met-10-1", "cleveland-1914-1"):
        DuplicateMember.objects.create(group=group, image=collection[image_id], similarity=0.9)
    return group


def decide(client, group, action):
    return client.post(
        reverse("admin:vision_duplicate_decide", args=[group.pk]), {"action": action}
    )


def test_it_shows_each_open_group_with_its_images(admin_client, open_group):
    response = admin_client.get(URL)
    assert response.status_code == 200
    assert b"met-10-1" in response.content and b"cleveland-1914-1" in response.content
    assert b"Keep apart" in response.content and b"Merge" in response.content
    assert b"Near-duplicates" in admin_client.get(reverse("admin:index")).content


def test_keep_apart_closes_the_group(admin_client, open_group):
    assert decide(admin_client, open_group, "keep").status_code == 302
    open_group.refresh_from_db()
    assert open_group.state == "kept"
    assert b"met-10-1" not in admin_client.get(URL).content


def test_merge_moves_the_images_onto_one_item(admin_client, open_group, collection):
    decide(admin_client, open_group, "merge")
    open_group.refresh_from_db()
    assert open_group.state == "merged"
    first, second = (collection[i] for i in ("met-10-1", "cleveland-1914-1"))
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.item_id == second.item_id


def test_an_unknown_action_changes_nothing(admin_client, open_group):
    response = admin_client.post(
        reverse("admin:vision_duplicate_decide", args=[open_group.pk]),
        {"action": "explode"},
        follow=True,
    )
    assert b"Unknown action" in response.content
    open_group.refresh_from_db()
    assert open_group.state == "open"


def test_the_image_list_filters_images_to_review(admin_client, open_group):
    url = reverse("admin:collection_image_changelist") + "?near_duplicates=open"
    assert changelist_ids(admin_client.get(url)) == {"met-10-1", "cleveland-1914-1"}
    url = reverse("admin:collection_image_changelist") + f"?near_duplicates={open_group.pk}"
    assert changelist_ids(admin_client.get(url)) == {"met-10-1", "cleveland-1914-1"}


def test_find_now_runs_the_search_as_a_job_followed_at_status(
    admin_client, collection, with_features
):
    with_features()
    response = admin_client.post(reverse("admin:vision_duplicates_find"), follow=True)
    assert response.status_code == 200
    job = VisionJob.objects.get()
    assert job.state == "success"
    # The collection pictures three colours twice: the search finds those three pairs.
    assert (job.result["pairs"], job.result["groups_created"]) == (3, 3)
    assert {
        frozenset(g.members.values_list("image__image_id", flat=True))
        for g in DuplicateGroup.objects.all()
    } == SAME_COLOUR_PAIRS
    assert b"Near-duplicates searched" in response.content
    status = admin_client.get(f"/status/{job.task_id}").json()
    assert status["kind"] == "near_duplicates" and status["state"] == "success"
    assert status["result"] == job.result
    listed = admin_client.get("/api/jobs?kind=near_duplicates").json()["results"]
    assert [row["task_id"] for row in listed] == [job.task_id]


def test_a_search_cancelled_while_it_runs_stores_no_group(collection, with_features, monkeypatch):
    from muses.jobs.services import job_cancel
    from muses.vision import near_duplicates
    from muses.vision.job_kinds import vision_job_run

    with_features()
    job = VisionJob.objects.create()
    real_pairs = near_duplicates.near_duplicate_pairs

    def cancelled_midway(*args, **kwargs):
        job_cancel(task_id=job.task_id)  # a curator cancels during the search
        return real_pairs(*args, **kwargs)

    monkeypatch.setattr(near_duplicates, "near_duplicate_pairs", cancelled_midway)
    vision_job_run(job_pk=job.pk)
    job.refresh_from_db()
    assert job.state == "cancelled" and not DuplicateGroup.objects.exists()
    # Not for want of duplicates: the same search, not cancelled, stores its three groups.
    monkeypatch.undo()
    assert near_duplicates.duplicates_find().groups_created == 3


def test_staff_without_change_permission_cannot_decide(client, django_user_model, open_group):
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(viewer)
    assert decide(client, open_group, "keep").status_code == 403
    open_group.refresh_from_db()
    assert open_group.state == "open"
