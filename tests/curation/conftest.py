"""Fixtures for curation: the custom-tagging tests' numpy backbone and API clients, and a
small labelled collection whose images have features."""

import pytest

from muses.collection.models import Item
from tests.custom_tagging.conftest import (  # noqa: F401 (fixtures)
    BLUE,
    GREEN,
    RED,
    add_image,
    anonymous,
    api,
    fresh_throttles,
    labelled_tag,
    shade,
    tagging_backbone,
    user,
)


@pytest.fixture
def record_images(make_image):
    """Make collection items with one image each and store their features."""
    from muses.vision.backbones import get_backbone
    from muses.vision.store import features_extract

    def make(rows, *, features=True):
        images = []
        for number, (title, object_type, colour) in enumerate(rows, Item.objects.count()):
            item = Item.objects.create(
                museum="Met", object_number=f"{number}", title=title, object_type=object_type
            )
            images.append(make_image(image_id=f"rec-{number}", item=item, color=colour))
        if features:
            features_extract(images=images, backbone=get_backbone())
        return images

    return make


@pytest.fixture
def jars_and_coins(record_images):
    """8 red jars and 8 blue coins by their records, and one blue image recorded as a jar
    (rec-16): its picture says coin."""
    rows = [("Jar", "Vessel", shade(RED, i)) for i in range(8)]
    rows += [("Coin of Ptolemy", "Coin", shade(BLUE, i)) for i in range(8)]
    rows.append(("Jar", "Vessel", BLUE))
    return record_images(rows)
