"""Curation pages that wait on a job explain themselves: the map's empty state says what to
do and offers the button; a layout or a label-issue report being computed is shown with its
progress, followed live (the page polls /status), and a failed one with its error and a link;
the near-duplicate search too."""

from unittest import mock

import pytest
from django.urls import reverse

from curation.models import CurationJob
from custom_tagging.models import CustomTag
from tests.curation.conftest import BLUE, RED, shade

QUEUE = "muses.jobs.services.async_task"  # the queue takes the task; no worker runs it here
MAP = reverse("admin:curation_map")


@pytest.fixture
def reds_and_blues(record_images):
    rows = [("Jar", "Vessel", shade(RED, i)) for i in range(4)]
    rows += [("Coin", "Coin", shade(BLUE, i)) for i in range(4)]
    return record_images(rows)


def test_an_empty_map_says_what_to_do_and_offers_the_layout_button(admin_client, reds_and_blues):
    html = admin_client.get(MAP).content.decode()
    assert 'data-testid="map-empty"' in html
    assert "Nothing is on the map yet" in html
    assert "8 of 8 images have features" in html
    assert 'data-testid="layout"' in html and "Lay out the map</button>" in html
    assert "0 points" not in html


def test_an_empty_map_without_features_says_to_import_images_first(admin_client, db):
    html = admin_client.get(MAP).content.decode()
    assert "0 of 0 images have features" in html
    assert "Import images first" in html
    assert 'data-testid="layout"' not in html


def test_a_laid_out_map_has_no_empty_state_and_keeps_lay_out_again(admin_client, reds_and_blues):
    admin_client.post(reverse("admin:curation_map_layout"))  # sync queue: laid out at once
    html = admin_client.get(MAP).content.decode()
    assert 'data-testid="map-empty"' not in html
    assert "8 points laid out" in html and "Lay out again" in html


def test_a_running_layout_is_followed_live_on_the_map_page(admin_client, reds_and_blues):
    with mock.patch(QUEUE):
        admin_client.post(reverse("admin:curation_map_layout"))
    job = CurationJob.objects.get(kind="map_layout")
    html = admin_client.get(MAP).content.decode()
    assert f'data-status-url="/status/{job.task_id}"' in html
    assert 'data-state="queued"' in html
    assert "the map appears here when it is done" in html
    assert 'data-testid="layout"' not in html  # no second layout while one runs


def test_a_failed_layout_shows_its_error_and_a_link_to_the_job(admin_client, reds_and_blues):
    job = CurationJob.objects.create(kind="map_layout", state="error", error="out of memory")
    html = admin_client.get(MAP).content.decode()
    job_url = reverse("admin:curation_curationjob_change", args=[job.pk])
    assert "out of memory" in html
    assert f'<a href="{job_url}" data-testid="job-link">' in html


def test_a_report_being_computed_shows_its_progress_in_neutral_styling(admin_client, labelled_tag):
    labelled_tag("red", positives=8, negatives=8)
    tag = CustomTag.objects.get(name="red")
    with mock.patch(QUEUE):
        html = admin_client.get(reverse("admin:curation_tag_issues", args=[tag.pk])).content
    html = html.decode()
    job = CurationJob.objects.get(kind="label_issues")
    assert "being computed in the background" in html
    assert 'class="errornote"' not in html
    assert f'data-status-url="/status/{job.task_id}"' in html
    job_url = reverse("admin:curation_curationjob_change", args=[job.pk])
    assert f'data-failed-url="{job_url}"' in html  # a failure stays in view, with the link
    assert "<progress" in html and "setInterval" in html  # the page polls until it ends


def test_the_status_url_the_page_polls_answers_the_signed_in_curator(admin_client, labelled_tag):
    labelled_tag("red", positives=8, negatives=8)
    tag = CustomTag.objects.get(name="red")
    with mock.patch(QUEUE):
        admin_client.get(reverse("admin:curation_tag_issues", args=[tag.pk]))
    job = CurationJob.objects.get(kind="label_issues")
    status = admin_client.get(f"/status/{job.task_id}", HTTP_ACCEPT="application/json")
    assert status.status_code == 200 and status.json()["state"] == "queued"


def test_a_running_near_duplicate_search_is_followed_live_on_its_page(admin_client, db):
    from muses.vision.models import VisionJob

    job = VisionJob.objects.create(state="running", progress=0.25)
    html = admin_client.get(reverse("admin:vision_duplicates")).content.decode()
    assert f'data-status-url="/status/{job.task_id}"' in html
    assert 'data-state="running"' in html and "setInterval" in html
    job_url = reverse("admin:vision_visionjob_change", args=[job.pk])
    assert f'data-failed-url="{job_url}"' in html
