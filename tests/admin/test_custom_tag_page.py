"""A custom tag's page: counts, versions and their metrics, training followed live,
rollback, cancelling, suggestions with one-click labels, and the precision-recall curve."""

import pytest
from django.urls import reverse

from custom_tagging.models import Assignment, CustomTag, TrainingJob
from custom_tagging.selectors import tag_get
from custom_tagging.services.predictions import tag_suggest
from custom_tagging.services.tags import assignment_set

pytestmark = pytest.mark.django_db


def change_url(tag) -> str:
    return reverse("admin:custom_tagging_customtag_change", args=[tag.pk])


def button_url(name: str, tag, *args) -> str:
    return reverse(f"admin:custom_tagging_customtag_{name}", args=[tag.pk, *args])


def labelled(colour_images, name="red"):
    images = colour_images()
    for image in images["reds"]:
        assignment_set(image=image, tag_name=name, label="positive")
    for image in images["blues"]:
        assignment_set(image=image, tag_name=name, label="negative")
    return tag_get(name=name), images


def test_the_tag_list_shows_counts_and_the_active_versions_metrics(admin_client, trained_tag):
    tag, _ = trained_tag("red")
    metrics = tag.active_version().metrics
    html = admin_client.get(reverse("admin:custom_tagging_customtag_changelist")).content.decode()
    assert '<td class="field-positives">6</td><td class="field-negatives">6</td>' in html
    assert '<td class="field-active">v2</td>' in html
    assert f'<td class="field-average_precision">{metrics["average_precision"]:.3f}</td>' in html
    assert '<td class="field-last_training">—</td>' in html


def test_the_tag_page_shows_the_counts_of_positives_and_negatives(admin_client, colour_images):
    tag, _ = labelled(colour_images)
    html = admin_client.get(change_url(tag)).content.decode()
    assert '<span class="muses-big" data-testid="positives">6</span>' in html
    assert '<span class="muses-big" data-testid="negatives">6</span>' in html


def test_the_tag_page_lists_versions_with_their_metrics_and_marks_the_active_one(
    admin_client, trained_tag
):
    tag, _ = trained_tag("red")
    v2 = tag.versions.get(number=2)
    html = admin_client.get(change_url(tag)).content.decode()
    assert 'data-testid="version-1"' in html and 'data-testid="version-2"' in html
    assert html.count('data-testid="active-mark"') == 1
    active_row = html.split('data-testid="version-2"')[1].split("</tr>")[0]
    assert "active" in active_row and f"{v2.metrics['precision']:.3f}" in active_row
    assert f"{v2.threshold:.4f}" in active_row and "5-fold cross-validation" in active_row
    assert 'data-testid="activate-1"' in html and 'data-testid="activate-2"' not in html


def test_train_now_queues_a_training_that_runs_to_success(admin_client, colour_images):
    tag, _ = labelled(colour_images)
    response = admin_client.post(button_url("train", tag))
    assert response.status_code == 302 and response.url.endswith("#training")
    job = TrainingJob.objects.get(tag=tag)
    assert job.state == "success" and job.version.number == 1 and job.version.is_active


def test_the_tag_page_follows_the_latest_job_through_the_status_endpoint(
    admin_client, colour_images
):
    tag, _ = labelled(colour_images)
    job = TrainingJob.objects.create(tag=tag, tag_name=tag.name)
    html = admin_client.get(change_url(tag)).content.decode()
    assert f'data-status-url="/status/{job.task_id}" data-state="queued"' in html
    assert "setInterval" in html
    status = admin_client.get(f"/status/{job.task_id}", HTTP_ACCEPT="application/json")
    assert status.status_code == 200 and status.json()["state"] == "queued"


def test_train_now_without_negatives_says_what_is_missing(admin_client, colour_images):
    images = colour_images()
    assignment_set(image=images["reds"][0], tag_name="red", label="positive")
    tag = tag_get(name="red")
    response = admin_client.post(button_url("train", tag), follow=True)
    assert "has no negative images" in response.content.decode()
    assert not TrainingJob.objects.exists()


def test_train_now_refuses_a_second_training_while_one_is_queued(admin_client, colour_images):
    tag, _ = labelled(colour_images)
    TrainingJob.objects.create(tag=tag, tag_name=tag.name)
    response = admin_client.post(button_url("train", tag), follow=True)
    assert "is already queued" in response.content.decode()
    assert TrainingJob.objects.count() == 1


def test_train_now_is_refused_on_get(admin_client, colour_images):
    tag, _ = labelled(colour_images)
    assert admin_client.get(button_url("train", tag)).status_code == 405


def test_activate_rolls_back_to_an_older_version(admin_client, trained_tag):
    tag, _ = trained_tag("red")
    response = admin_client.post(button_url("activate", tag, 1), follow=True)
    assert "Version 1 is active now." in response.content.decode()
    assert tag.active_version().number == 1


def test_activating_an_unknown_version_says_so(admin_client, trained_tag):
    tag, _ = trained_tag("red")
    response = admin_client.post(button_url("activate", tag, 9), follow=True)
    assert "has no version 9" in response.content.decode()
    assert tag.active_version().number == 2


def test_cancel_stops_a_queued_job(admin_client, colour_images):
    tag, _ = labelled(colour_images)
    job = TrainingJob.objects.create(tag=tag, tag_name=tag.name)
    assert 'data-testid="cancel"' in admin_client.get(change_url(tag)).content.decode()
    response = admin_client.post(button_url("cancel", tag, job.task_id), follow=True)
    job.refresh_from_db()
    assert job.state == "cancelled"
    assert f"Job {job.task_id} is cancelled." in response.content.decode()


def test_cancel_of_a_finished_job_says_it_cannot(admin_client, trained_tag):
    tag, _ = trained_tag("red", versions=0)
    admin_client.post(button_url("train", tag))
    job = TrainingJob.objects.get(tag=tag)
    response = admin_client.post(button_url("cancel", tag, job.task_id), follow=True)
    assert "already success" in response.content.decode()


def test_cancel_only_reaches_the_jobs_of_this_tag(admin_client, colour_images):
    tag, _ = labelled(colour_images)
    other = CustomTag.objects.create(name="other")
    job = TrainingJob.objects.create(tag=other, tag_name="other")
    assert admin_client.post(button_url("cancel", tag, job.task_id)).status_code == 404


def test_suggestions_list_unlabelled_images_the_model_is_least_sure_of(admin_client, trained_tag):
    tag, images = trained_tag("red")
    html = admin_client.get(change_url(tag)).content.decode()
    suggested = tag_suggest(tag=tag, n=12)
    assert html.count('data-testid="suggestion"') == len(suggested) == 6
    assert all(f'value="{s["image_id"]}"' in html for s in suggested)
    assert "red-0" not in [s["image_id"] for s in suggested]


def test_an_untrained_tag_says_why_it_has_no_suggestions(admin_client, colour_images):
    tag, _ = labelled(colour_images)
    html = admin_client.get(change_url(tag)).content.decode()
    assert "has no trained version yet" in html


def test_one_click_labels_a_suggestion(admin_client, trained_tag):
    tag, images = trained_tag("red")
    other = images["others"][0]
    response = admin_client.post(
        button_url("label", tag), {"image_id": other.image_id, "label": "negative"}
    )
    assert response.status_code == 302 and response.url.endswith("#suggestions")
    assert Assignment.objects.get(tag=tag, image=other).label == "negative"


def test_one_click_answers_json_to_the_pages_script(admin_client, trained_tag):
    tag, images = trained_tag("red")
    other = images["others"][0]
    response = admin_client.post(
        button_url("label", tag),
        {"image_id": other.image_id, "label": "positive"},
        HTTP_ACCEPT="application/json",
    )
    assert response.json() == {"image_id": other.image_id, "label": "positive"}


def test_one_click_with_a_bad_label_is_refused(admin_client, trained_tag):
    tag, images = trained_tag("red")
    response = admin_client.post(
        button_url("label", tag),
        {"image_id": images["others"][0].image_id, "label": "maybe"},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400 and "positive" in response.json()["detail"]


def test_the_precision_recall_curve_of_the_active_version_is_a_png(admin_client, trained_tag):
    tag, _ = trained_tag("red")
    html = admin_client.get(change_url(tag)).content.decode()
    assert f"{button_url('pr_curve', tag)}?version=2" in html
    response = admin_client.get(button_url("pr_curve", tag))
    assert response["Content-Type"] == "image/png"
    assert response.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_curve_is_computed_from_the_labelled_images_when_the_version_stores_none(
    trained_tag,
):
    from custom_tagging.reports import version_curve

    tag, _ = trained_tag("red")
    curve = version_curve(tag.active_version())
    assert "in-sample: the 12 labelled images" in curve.source
    assert curve.recall[0] == 1.0 and curve.precision[-1] == 1.0


def test_the_curve_uses_points_stored_with_the_version(trained_tag):
    from custom_tagging.reports import version_curve

    tag, _ = trained_tag("red", versions=1)
    version = tag.active_version()
    version.metrics["pr_curve"] = {"precision": [0.5, 1.0], "recall": [1.0, 0.0]}
    assert version_curve(version).source == "cross-validated"


def test_a_tag_without_a_version_has_no_curve(admin_client, colour_images):
    tag, _ = labelled(colour_images)
    assert admin_client.get(button_url("pr_curve", tag)).status_code == 404


def test_a_staff_user_who_may_only_view_tags_cannot_train(client, django_user_model, colour_images):
    from django.contrib.auth.models import Permission

    tag, _ = labelled(colour_images)
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_customtag"))
    client.force_login(viewer)
    assert client.get(change_url(tag)).status_code == 200
    assert client.post(button_url("train", tag)).status_code == 403
    assert not TrainingJob.objects.exists()


def test_renaming_a_tag_checks_the_name_like_the_api(admin_client, colour_images):
    tag, _ = labelled(colour_images)
    response = admin_client.post(change_url(tag), {"name": "a,b", "target_precision": ""})
    assert response.status_code == 200 and "cannot contain" in response.content.decode()


def test_deleting_a_tag_cancels_its_unfinished_training(admin_client, colour_images):
    tag, _ = labelled(colour_images)
    job = TrainingJob.objects.create(tag=tag, tag_name=tag.name)
    url = reverse("admin:custom_tagging_customtag_delete", args=[tag.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    job.refresh_from_db()
    assert job.state == "cancelled" and not CustomTag.objects.filter(pk=tag.pk).exists()
    assert not Assignment.objects.exists()
