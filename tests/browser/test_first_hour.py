"""A new curator's first hour in a real browser: log in, import the sample collection, see
the grid, label a few images for a tag, train it and see the job finish without reloading,
open the empty map and lay it out, and review the tag's likely label errors while their
report is computed and once it is done.

Screenshots (test-artifacts/browser/first-hour-*.png): the grid, the empty map, the laid-out
map with its thumbnails, the label-issue review while its job runs and once it is done."""

import threading
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection

from curation import label_issues
from curation.models import CurationJob
from custom_tagging.models import CustomTag
from muses.collection.models import Image
from tests.test_deploy import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SAMPLE_CSV = ROOT / "sample" / "egyptian-cc0" / "collection.csv"
SAMPLE_IMAGES = 320
LABELLED = 6  # per side: more than the 5 folds the label-issue report needs


@pytest.fixture
def sample_imported(curator, numpy_backbone):
    """`manage.py muses_import` of the sample, as the README says; the queue runs in-process
    in the tests, so the images have features when it returns."""
    out = StringIO()
    call_command("muses_import", str(SAMPLE_CSV), "--importer", "csv", stdout=out, stderr=out)
    assert Image.objects.count() == SAMPLE_IMAGES, out.getvalue()[-2000:]


def select_cards(page, count: int) -> None:
    cards = page.locator("#result_list tbody tr")
    for i in range(count):
        cards.nth(i).locator("td.field-item_title").click()
    assert page.locator("#result_list tbody tr.selected").count() == count


def label(page, base: str, search: str, action: str, tag: str, *, new: bool) -> None:
    """Search the image grid, select the first cards and apply a tag action to them."""
    page.goto(f"{base}/admin/collection/image/")
    page.fill("#searchbar", search)
    page.press("#searchbar", "Enter")
    page.wait_for_url(f"**q={search}**")
    select_cards(page, LABELLED)
    page.select_option("select[name=action]", label=action)
    page.click("button[name=index]")
    page.wait_for_selector("[data-testid=selection-count]")
    if new:
        page.fill("#id_new_tag", tag)
    else:
        page.select_option("#id_tag", label=tag)
    page.click("[data-testid=apply]")
    page.wait_for_selector("ul.messagelist li.success")


@pytest.fixture
def report_paused():
    """The label-issue job stops after reporting 40 % until the test lets it go on, so the
    page is seen following a running job."""
    going_on, real = threading.Event(), label_issues.binary_probabilities

    def paused(X, y, *, progress=None, **kwargs):
        progress(0.4)
        assert going_on.wait(60), "the test never let the report go on"
        return real(X, y, progress=progress, **kwargs)

    with mock.patch.object(label_issues, "binary_probabilities", paused):
        yield going_on


def in_a_worker(job_queue) -> threading.Thread:
    def work():
        try:
            job_queue.run_all()
        finally:
            connection.close()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    return worker


def test_a_new_curators_first_hour(
    logged_in, live_server, sample_imported, job_queue, report_paused, screenshot
):
    page, base = logged_in, live_server.url

    # The imported sample as a grid of thumbnails.
    page.goto(f"{base}/admin/collection/image/")
    assert page.locator("#result_list img.muses-thumb").count() >= 20
    assert f"{SAMPLE_IMAGES} images" in page.inner_text("#changelist")
    screenshot("first-hour-01-grid")

    # A few positives and negatives for a new tag.
    label(page, base, "jar", "Mark positive for tag…", "jar", new=True)
    label(page, base, "amulet", "Mark negative for tag…", "jar", new=False)
    tag = CustomTag.objects.get(name="jar")
    assert tag.assignments.count() == 2 * LABELLED

    # Train: the page follows the job and shows the version once it succeeded.
    page.goto(f"{base}/admin/custom_tagging/customtag/{tag.pk}/change/")
    page.click("[data-testid=train]")
    assert page.inner_text("[data-testid=job-state]") == "queued"
    job_queue.run_all()
    page.wait_for_selector("[data-testid=version-1]")
    assert page.inner_text("[data-testid=job-state]") == "success"

    # The map: an empty state that says what to do, then the layout followed live.
    page.goto(f"{base}/admin/curation/map/")
    empty = page.locator("[data-testid=map-empty]")
    assert "Nothing is on the map yet" in empty.inner_text()
    assert f"{SAMPLE_IMAGES} of {SAMPLE_IMAGES} images have features" in empty.inner_text()
    screenshot("first-hour-02-map-empty")
    empty.locator("[data-testid=layout]").click()
    page.wait_for_selector("[data-testid=job][data-state=queued]")
    job_queue.run_all()
    page.wait_for_selector("[data-testid=map-empty]", state="detached")  # reloaded
    page.wait_for_function("window.musesMap && window.musesMap.ready")
    assert page.evaluate("window.musesMap.points") == SAMPLE_IMAGES
    # A small collection shows its thumbnails at the default zoom.
    assert page.evaluate("window.musesMap.thumbsDrawn") == SAMPLE_IMAGES
    page.wait_for_load_state("networkidle")
    page.evaluate("window.musesMap.drawAt(1, 0, 0)")
    screenshot("first-hour-03-map-laid-out")

    # Likely label errors: the page follows the report's job, then shows the report.
    page.goto(f"{base}/admin/curation/label-issues/")
    page.click("text=jar")
    page.wait_for_selector("[data-testid=computing]")
    assert "being computed in the background" in page.inner_text("[data-testid=computing]")
    worker = in_a_worker(job_queue)
    page.wait_for_selector("[data-testid=job][data-state=running]")
    page.wait_for_function("document.querySelector('[data-testid=job] progress').value >= 0.4")
    screenshot("first-hour-04-label-issues-running")
    report_paused.set()
    worker.join(60)
    page.wait_for_selector("[data-testid=summary]")  # reloaded by the page itself
    assert f"among {2 * LABELLED} labelled images" in page.inner_text("[data-testid=summary]")
    assert CurationJob.objects.get(kind="label_issues").state == "success"
    screenshot("first-hour-05-label-issues-done")
