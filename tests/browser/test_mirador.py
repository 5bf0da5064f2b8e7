"""A result manifest in Mirador 4 (its own built bundle, in Chromium): the viewer loads the
Presentation 3.0 Manifest MUSES serves, draws the canvases' images and lists the tags as
annotations."""

import pytest

from custom_tagging.selectors import tag_get
from custom_tagging.services.tags import assignment_set
from custom_tagging.services.training import tag_train
from muses.collection.models import Item
from tests.browser.conftest import running_in_ci
from tests.browser.mirador import mirador_bundle
from tests.conftest import encode_image
from tests.custom_tagging.conftest import BLUE, GREEN, RED, shade

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Mirador</title></head>
<body style="margin:0">
<div id="viewer" style="position:absolute;inset:0"></div>
<script src="mirador.min.js"></script>
<script>
  window.viewer = Mirador.viewer({
    id: "viewer",
    windows: [{manifestId: MANIFEST, sideBarOpen: true}],
  });
</script>
</body></html>"""


@pytest.fixture
def bundle():
    path, reason = mirador_bundle()
    if path is None:
        if running_in_ci():  # CI must open Mirador, not pass without it
            pytest.fail(f"Mirador bundle unavailable in CI: {reason}")
        pytest.skip(f"Mirador test skipped: {reason}")
    return path


@pytest.fixture
def red_tag(settings, numpy_backbone):
    """Tag 'red' trained on 6 red and 6 blue/green stored images, and 2 new red jars."""
    from muses.collection.services import image_store
    from muses.vision.store import features_extract

    settings.MUSES_API_OPEN = True  # the viewer sends no token
    images = {}
    for kind, colour, count in (("pos", RED, 6), ("neg", BLUE, 3), ("neg-g", GREEN, 3)):
        for i in range(count):
            data = encode_image(size=(96, 64), color=shade(colour, i))
            images[f"{kind}-{i}"] = image_store(data=data, name="a.jpg", image_id=f"{kind}-{i}")
    for i in range(2):
        item = Item.objects.create(museum="Met", object_number=f"jar.{i}", title=f"Red jar {i}")
        data = encode_image(size=(96, 64), color=shade(RED, i + 3))
        image_store(data=data, name="a.jpg", image_id=f"jar-{i}", item=item)
    features_extract(backbone=numpy_backbone)
    for image_id, image in images.items():
        label = "positive" if image_id.startswith("pos") else "negative"
        assignment_set(image=image, tag_name="red", label=label)
    tag_train(tag=tag_get(name="red"))
    return "red"


def test_a_tags_predictions_open_in_mirador_with_images_and_annotations(
    page, live_server, bundle, red_tag, screenshot
):
    manifest = f"{live_server.url}/api/iiif/tags/{red_tag}/predictions/manifest?n=4"
    images = []
    page.on(
        "response",
        lambda r: images.append(r) if "/media/" in r.url and r.status == 200 else None,
    )
    open_in_mirador(page, live_server, bundle, manifest)
    page.get_by_text("red: top predictions").first.wait_for()
    page.wait_for_function("document.querySelectorAll('.openseadragon-canvas canvas').length > 0")
    page.get_by_text("1 of 4").first.wait_for()  # the four canvases of n=4
    page.locator('[aria-label="Annotations"]').first.click()
    page.get_by_text("Showing 1 annotation").wait_for()
    page.get_by_text("red", exact=True).first.wait_for()  # the tagging annotation's body
    screenshot("mirador-01-predictions")
    assert images, "Mirador drew no image from MUSES"
    assert all(r.headers.get("content-type", "").startswith("image/") for r in images)


@pytest.fixture
def iiif(settings, sample_dir):
    from tests.collection.iiif_server import start_server, stop_server

    settings.MUSES_IIIF_TIMEOUT = 5.0
    settings.MUSES_IIIF_ALLOW_PRIVATE = True  # the test server is on 127.0.0.1
    state, httpd, thread = start_server()
    state.add_image("MET_329767", sample_dir / "egyptian-cc0" / "images" / "MET_329767.jpg")
    yield state
    stop_server(state, httpd, thread)


def open_in_mirador(page, live_server, bundle, manifest: str) -> None:
    html = PAGE.replace("MANIFEST", f'"{manifest}"')
    page.route(
        f"{live_server.url}/mirador/index.html",
        lambda route: route.fulfill(body=html, content_type="text/html"),
    )
    page.route(
        f"{live_server.url}/mirador/mirador.min.js",
        lambda route: route.fulfill(path=str(bundle), content_type="text/javascript"),
    )
    page.goto(f"{live_server.url}/mirador/index.html")


def test_an_image_imported_from_iiif_is_shown_from_the_museums_image_server(
    page, live_server, bundle, iiif, settings, screenshot
):
    from muses.collection.models import Image
    from tests.collection.iiif_server import manifest_v3, run_import

    settings.MUSES_API_OPEN = True
    manifest = manifest_v3(iiif, "bastet", [{"identifier": "MET_329767"}])
    run_import(iiif.add_json("/manifests/bastet.json", manifest))
    image = Image.objects.get()
    assignment_set(image=image, tag_name="cat", label="positive")
    iiif.requests.clear()
    # The page is fulfilled by the test, so Chromium counts it as public: it may reach the
    # image server on the loopback only with this permission (a museum's server is public).
    page.context.grant_permissions(["local-network-access"])
    open_in_mirador(
        page, live_server, bundle, f"{live_server.url}/api/iiif/tags/cat/positives/manifest"
    )
    page.get_by_text("cat: positive examples").first.wait_for()
    page.wait_for_function("document.querySelectorAll('.openseadragon-canvas canvas').length > 0")
    page.wait_for_function(
        "() => performance.getEntriesByType('resource').some("
        "e => e.name.includes('/iiif/3/MET_329767/') && e.name.endsWith('.jpg'))"
    )
    screenshot("mirador-02-museum-image")
    paths = iiif.paths("/iiif/3/MET_329767/")
    assert "/iiif/3/MET_329767/info.json" in paths  # deep zoom through the museum's service
    assert any(path.endswith("/default.jpg") for path in paths)
