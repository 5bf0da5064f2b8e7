"""Finding and deciding near-duplicate groups among stored images (muses.vision.near_duplicates),
and the muses_find_duplicates command."""

import io

import pytest
from django.core.management import call_command
from PIL import Image as PILImage

from muses.collection.models import Image, Item
from muses.collection.services import image_store
from muses.vision.models import DuplicateGroup, DuplicateMember
from muses.vision.near_duplicates import (
    duplicate_group_keep,
    duplicate_group_merge,
    duplicates_find,
)
from muses.vision.store import features_extract
from tests.custom_tagging.conftest import tagging_backbone  # noqa: F401 (autouse fixture)
from tests.vision.test_near_duplicate_signals import photo

pytestmark = pytest.mark.django_db


def jpeg(picture, quality=90) -> bytes:
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=quality)
    return out.getvalue()


@pytest.fixture
def stored(tagging_backbone):  # noqa: F811
    """Store pictures (bytes) as images of new items, with their features."""

    def store(pictures: dict[str, bytes], features=True):
        images = {}
        for image_id, data in pictures.items():
            item = Item.objects.create(museum="Met", object_number=image_id, title=image_id)
            images[image_id] = image_store(data=data, name="x.jpg", image_id=image_id, item=item)
        if features:
            features_extract(images=list(images.values()), backbone=tagging_backbone)
        return images

    return store


@pytest.fixture
def collection_with_a_copy(stored):
    pictures = {f"orig-{n}": jpeg(photo(n)) for n in range(12)}
    pictures["copy-of-3"] = jpeg(photo(3), quality=50)
    return stored(pictures)


def group_ids(group: DuplicateGroup) -> set[str]:
    return set(group.members.values_list("image__image_id", flat=True))


def test_it_groups_a_reencoded_copy_with_its_original(collection_with_a_copy):
    report = duplicates_find()
    assert report.groups_created == 1
    (group,) = DuplicateGroup.objects.all()
    assert group_ids(group) == {"orig-3", "copy-of-3"}
    assert group.state == DuplicateGroup.State.OPEN


def test_finding_again_changes_nothing(collection_with_a_copy):
    duplicates_find()
    assert duplicates_find().groups_created == 0
    assert DuplicateMember.objects.count() == 2


def test_a_new_copy_joins_the_open_group(collection_with_a_copy, stored):
    duplicates_find()
    new = stored({"half-of-3": jpeg(photo(3).resize((48, 40)))})
    duplicates_find(images=Image.objects.filter(pk=new["half-of-3"].pk))
    (group,) = DuplicateGroup.objects.all()
    assert group_ids(group) == {"orig-3", "copy-of-3", "half-of-3"}


def test_a_new_image_found_only_from_the_old_images_side_is_grouped(stored):
    # A blend of two pictures is the clear nearest neighbour of each of them, while its own
    # two nearest are about as close as each other: only the old images' side sees the pair.
    stored({f"orig-{n}": jpeg(photo(n)) for n in range(12)})
    assert duplicates_find().pairs == 0
    blend = PILImage.blend(photo(3), photo(5), 0.5)
    new = stored({"blend-3-5": jpeg(blend)})
    report = duplicates_find(images=Image.objects.filter(pk=new["blend-3-5"].pk))
    assert report.pairs == 2
    (group,) = DuplicateGroup.objects.all()
    assert group_ids(group) == {"orig-3", "orig-5", "blend-3-5"}
    again = duplicates_find()  # a whole search finds the same pairs, and nothing new
    assert (again.pairs, again.groups_created, again.groups_grown) == (2, 0, 0)


def test_a_group_kept_apart_is_not_grouped_again(collection_with_a_copy):
    duplicates_find()
    duplicate_group_keep(group=DuplicateGroup.objects.get())
    duplicates_find()
    assert DuplicateGroup.objects.filter(state="open").count() == 0


def test_merging_puts_every_image_on_one_item_and_deletes_nothing(collection_with_a_copy):
    duplicates_find()
    group = duplicate_group_merge(group=DuplicateGroup.objects.get())
    images = Image.objects.filter(image_id__in=["orig-3", "copy-of-3"])
    assert images.count() == 2
    assert len({image.item_id for image in images}) == 1
    assert Item.objects.filter(object_number="copy-of-3").exists()
    with pytest.raises(ValueError, match="already decided"):
        duplicate_group_keep(group=group)


def test_images_without_features_are_not_grouped_yet(stored):
    stored({"a": jpeg(photo(1)), "b": jpeg(photo(1), quality=50)}, features=False)
    assert duplicates_find().pairs == 0


def test_the_command_reports_the_groups(collection_with_a_copy):
    out = io.StringIO()
    call_command("muses_find_duplicates", verbosity=0, stdout=out)
    assert "1 new groups" in out.getvalue()
    assert "1 groups wait for review" in out.getvalue()
