"""The map of the collection in a real browser: it draws every laid-out image, a lasso around
one cluster selects exactly that cluster, and "Mark positive" labels it for a tag."""

import pytest

from custom_tagging.models import Assignment
from muses.collection.models import Item
from tests.conftest import encode_image
from tests.custom_tagging.conftest import BLUE, RED, shade

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_clusters(curator, numpy_backbone):
    """12 red jars and 12 blue coins with features, laid out on the map."""
    from curation.services.collection_map import map_layout_compute
    from muses.collection.services import image_store
    from muses.vision.store import features_extract

    for kind, title, colour in (("jar", "Jar", RED), ("coin", "Coin", BLUE)):
        for i in range(12):
            item = Item.objects.create(museum="Met", object_number=f"{kind}.{i}", title=title)
            data = encode_image(size=(48, 48), color=shade(colour, i))
            image_store(data=data, name="img.jpg", image_id=f"{kind}-{i}", item=item)
    features_extract(backbone=numpy_backbone)
    map_layout_compute()


def lasso_around(page, points) -> None:
    """Shift-drag a rectangle (as a polygon) around the given screen points."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    left, right, top, bottom = min(xs) - 6, max(xs) + 6, min(ys) - 6, max(ys) + 6
    page.keyboard.down("Shift")
    page.mouse.move(left, top)
    page.mouse.down()
    for x, y in ((right, top), (right, bottom), (left, bottom), (left, top)):
        page.mouse.move(x, y, steps=5)
    page.mouse.up()
    page.keyboard.up("Shift")


def test_a_curator_lassoes_a_cluster_and_marks_it_positive(
    logged_in, live_server, two_clusters, screenshot
):
    page = logged_in
    page.goto(f"{live_server.url}/admin/curation/map/")
    page.wait_for_function("window.musesMap && window.musesMap.ready")
    assert page.evaluate("window.musesMap.points") == 24
    screenshot("map-01-drawn")

    jars = [f"jar-{i}" for i in range(12)]
    coins_on_screen = page.evaluate(
        "ids => window.musesMap.screenOf(ids)", [f"coin-{i}" for i in range(12)]
    )
    jars_on_screen = page.evaluate("ids => window.musesMap.screenOf(ids)", jars)
    # The two clusters do not overlap, so a box around the jars holds no coin.
    xs = [x for x, _ in jars_on_screen]
    ys = [y for _, y in jars_on_screen]
    assert not any(
        min(xs) - 6 <= x <= max(xs) + 6 and min(ys) - 6 <= y <= max(ys) + 6
        for x, y in coins_on_screen
    )
    lasso_around(page, jars_on_screen)
    assert sorted(page.evaluate("window.musesMap.selected")) == sorted(jars)
    assert page.inner_text("[data-testid=selected]") == "12"

    page.fill("[data-testid=tag]", "jar")
    page.click("[data-testid=mark-positive]")
    page.wait_for_selector("[data-testid=result]:has-text('12 images changed')")
    screenshot("map-02-marked")
    labels = dict(
        Assignment.objects.filter(tag__name="jar").values_list("image__image_id", "label")
    )
    assert labels == {image_id: "positive" for image_id in jars}


def test_hovering_a_point_shows_its_record(logged_in, live_server, two_clusters):
    page = logged_in
    page.goto(f"{live_server.url}/admin/curation/map/")
    page.wait_for_function("window.musesMap && window.musesMap.ready")
    [(x, y)] = page.evaluate("ids => window.musesMap.screenOf(ids)", ["coin-3"])
    page.mouse.move(x, y)
    assert "Coin" in page.inner_text("#muses-map-tip")
