"""Publishing tests use custom tagging's fixtures: the numpy backbone, token clients and a
trained tag."""

import pytest

from muses.collection.models import Image, Item
from tests.custom_tagging.conftest import (  # noqa: F401  (fixtures)
    add_image,
    anonymous,
    api,
    fresh_throttles,
    labelled_tag,
    tagging_backbone,
    trained_tag,
    user,
)


@pytest.fixture
def museum_object(db):
    """Give stored images an item: (museum, object number) as a collection import would."""

    def attach(object_number: str, *image_ids: str, museum: str = "Met Museum") -> Item:
        item, _ = Item.objects.get_or_create(
            museum=museum, object_number=object_number, defaults={"title": object_number}
        )
        Image.objects.filter(image_id__in=image_ids).update(item=item)
        return item

    return attach
