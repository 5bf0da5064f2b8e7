"""A curator's round trip in a real browser: log in, filter the images, label five positive
and five negative for a new tag in bulk, train, watch the job reach success, read the
version's metrics, roll back, and find the suggestions to label next."""

import re

import pytest

from custom_tagging.models import CustomTag, TrainingJob
from muses.collection.models import Item
from tests.conftest import encode_image
from tests.custom_tagging.conftest import BLUE, GREEN, RED, shade

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def museum_images(curator, numpy_backbone):
    """Red jars at the Met, blue coins at Cleveland, mixed things at Chicago; with features."""
    from muses.collection.services import image_store
    from muses.vision.store import features_extract

    groups = [("Met", "Jar", "Vessel", RED), ("Cleveland", "Coin", "Coin", BLUE)]
    groups += [("Chicago", "Bowl", "Vessel", GREEN), ("Chicago", "Bead", "Jewelry", RED)]
    for museum, title, object_type, colour in groups:
        for i in range(7 if museum != "Chicago" else 3):
            item = Item.objects.create(
                museum=museum,
                object_number=f"{title}.{i}",
                title=f"{title} {i}",
                object_type=object_type,
            )
            data = encode_image(size=(48, 48), color=shade(colour, i))
            image_store(data=data, name="img.jpg", image_id=f"{title.lower()}-{i}", item=item)
    features_extract(backbone=numpy_backbone)


def select_cards(page, count: int) -> None:
    """Click `count` cards of the grid (on the card, not its link or box)."""
    cards = page.locator("#result_list tbody tr")
    for i in range(count):
        cards.nth(i).locator("td.field-item_title").click()
    assert page.locator("#result_list tbody tr.selected").count() == count


def run_action(page, label: str) -> None:
    page.select_option("select[name=action]", label=label)
    page.click("button[name=index]")
    page.wait_for_selector("[data-testid=selection-count]")


def test_a_curator_labels_trains_reviews_and_rolls_back(
    logged_in, live_server, museum_images, job_queue, screenshot
):
    page = logged_in
    base = live_server.url
    screenshot("01-admin-index")

    # Filter the images: the Met's red jars, as a grid.
    page.goto(f"{base}/admin/collection/image/")
    page.locator("#changelist-filter a", has_text="Met").first.click()
    page.wait_for_url(re.compile(r"item__museum=Met"))
    assert page.locator("#result_list tbody tr").count() == 7
    page.hover("#result_list img.muses-thumb >> nth=2")
    page.wait_for_selector("#muses-preview.visible")
    screenshot("02-images-filtered-grid-with-preview")

    # Five positives for a new tag, through the intermediate page.
    select_cards(page, 5)
    run_action(page, "Mark positive for tag…")
    assert "5" in page.inner_text("[data-testid=selection-count]")
    page.fill("#id_new_tag", "red ware")
    screenshot("03-intermediate-page")
    page.click("[data-testid=apply]")
    page.wait_for_selector("text=5 images marked positive for “red ware”.")

    # Five negatives among Cleveland's coins, choosing the tag that now exists.
    page.goto(f"{base}/admin/collection/image/?item__museum=Cleveland")
    select_cards(page, 5)
    run_action(page, "Mark negative for tag…")
    page.select_option("#id_tag", label="red ware")
    page.click("[data-testid=apply]")
    page.wait_for_selector("text=5 images marked negative for “red ware”.")
    screenshot("04-images-after-labelling")

    # The tag's page: counts, then Train now; the page follows the job until it succeeds.
    tag = CustomTag.objects.get(name="red ware")
    page.goto(f"{base}/admin/custom_tagging/customtag/{tag.pk}/change/")
    assert page.inner_text("[data-testid=positives]") == "5"
    assert page.inner_text("[data-testid=negatives]") == "5"
    page.click("[data-testid=train]")
    state = page.locator("[data-testid=job-state]")
    assert state.inner_text() == "queued"
    screenshot("05-training-queued")
    job_queue.run_all()  # the worker picks the job up
    page.wait_for_selector("[data-testid=version-1]")  # the page reloads once it succeeded
    assert page.inner_text("[data-testid=job-state]") == "success"
    version = TrainingJob.objects.get(tag=tag).version
    row = page.inner_text("[data-testid=version-1]")
    assert f"{version.metrics['precision']:.3f}" in row
    assert f"{version.metrics['recall']:.3f}" in row
    assert f"{version.metrics['average_precision']:.3f}" in row
    assert f"{version.threshold:.4f}" in row and "active" in row
    wait_for_curve(page)
    screenshot("06-trained-v1")

    # A second training, then roll back to v1.
    page.click("[data-testid=train]")
    job_queue.run_all()
    page.wait_for_selector("[data-testid=version-2] [data-testid=active-mark]")
    page.click("[data-testid=activate-1]")
    page.wait_for_selector("text=Version 1 is active now.")
    assert "active" in page.inner_text("[data-testid=version-1]")
    assert page.locator("[data-testid=activate-2]").count() == 1
    assert tag.active_version().number == 1

    # The precision-recall curve is drawn, and suggestions are offered for one-click labels.
    wait_for_curve(page)
    suggestions = page.locator("[data-testid=suggestion]")
    assert suggestions.count() >= 6
    screenshot("07-rolled-back-with-suggestions")
    first = suggestions.first
    first.locator("[data-testid=label-positive]").click()
    page.wait_for_selector(".muses-card.muses-done")
    assert "marked positive" in first.inner_text()
    assert tag.assignments.count() == 11
    screenshot("08-suggestion-labelled")

    # The image page of a suggestion shows its score by the tag.
    suggestions.nth(1).locator("a").click()
    scores = page.locator("table.muses-scores")
    assert "red ware" in scores.inner_text() and "v1 (" in scores.inner_text()
    screenshot("09-image-page-with-scores")


def wait_for_curve(page) -> None:
    page.locator("[data-testid=pr-curve]").scroll_into_view_if_needed()
    page.wait_for_function("document.querySelector('[data-testid=pr-curve]').naturalWidth > 0")


def test_a_curator_exports_the_naive_dataset_from_its_page(
    logged_in, live_server, museum_images, screenshot, settings, tmp_path
):
    settings.MUSES_DATASET_DIR = tmp_path / "dataset"
    page = logged_in
    page.click("text=Dataset and models")
    page.wait_for_selector("[data-testid=no-dataset]")
    assert "vessel" in page.inner_text("[data-testid=labelling-table]")
    page.click("[data-testid=export]")  # django-q2 runs it at once in the tests
    page.wait_for_selector("[data-testid=dataset-table]")
    assert page.inner_text("[data-testid=job-state]") == "success"
    assert "coin" in page.inner_text("[data-testid=dataset-table]")
    screenshot("10-naive-page-after-export")
