"""The exporter never puts two members of one near-duplicate group in different splits."""

import io

import pytest

from exporters.dataset import DatasetEntry, assign_splits
from exporters.naive.muses_exporter_plugin import do_export
from muses.collection.models import Item
from muses.vision.models import DuplicateGroup, DuplicateMember

pytestmark = pytest.mark.django_db


@pytest.fixture
def jars_and_coins(make_image):
    """30 jars and 30 coins, one image each: {'jar-0': Image, ..., 'coin-29': Image}."""
    images = {}
    for kind, title in (("jar", "Jar"), ("coin", "Coin of Ptolemy")):
        for n in range(30):
            item = Item.objects.create(museum="Met", object_number=f"{kind}-{n}", title=title)
            colour = (n * 8, 40 if kind == "jar" else 200, 90)
            images[f"{kind}-{n}"] = make_image(image_id=f"{kind}-{n}", item=item, color=colour)
    return images


def splits(settings, tmp_path) -> dict[str, str]:
    settings.MUSES_DATASET_DIR = tmp_path / "dataset"
    report = do_export(out=io.StringIO(), progress=False, dry_run=True)
    return {entry.image_id: entry.split for entry in report.entries}


def group(*images, state=DuplicateGroup.State.OPEN):
    made = DuplicateGroup.objects.create(state=state)
    for image in images:
        DuplicateMember.objects.create(group=made, image=image)
    return made


def pairs_of(jars_and_coins):
    return [(jars_and_coins[f"jar-{n}"], jars_and_coins[f"coin-{n}"]) for n in range(30)]


def test_without_groups_some_of_these_pairs_straddle_splits(jars_and_coins, settings, tmp_path):
    split = splits(settings, tmp_path)
    assert any(split[a.image_id] != split[b.image_id] for a, b in pairs_of(jars_and_coins))


def test_a_group_across_two_classes_lands_in_one_split(jars_and_coins, settings, tmp_path):
    for jar, coin in pairs_of(jars_and_coins):
        group(jar, coin)
    split = splits(settings, tmp_path)
    assert all(split[a.image_id] == split[b.image_id] for a, b in pairs_of(jars_and_coins))
    assert {"train", "validation", "test"} == set(split.values())


def test_a_merged_group_stays_together_and_a_kept_one_need_not(jars_and_coins, settings, tmp_path):
    for jar, coin in pairs_of(jars_and_coins):
        group(jar, coin, state=DuplicateGroup.State.MERGED)
    split = splits(settings, tmp_path)
    assert all(split[a.image_id] == split[b.image_id] for a, b in pairs_of(jars_and_coins))
    DuplicateGroup.objects.update(state=DuplicateGroup.State.KEPT)
    split = splits(settings, tmp_path)
    assert any(split[a.image_id] != split[b.image_id] for a, b in pairs_of(jars_and_coins))


def test_an_items_other_images_follow_its_duplicate_group(make_image, settings, tmp_path):
    images = []
    for n in range(20):
        item = Item.objects.create(museum="Met", object_number=f"j{n}", title="Jar")
        images.append([make_image(item=item, color=(n * 9, 10 + k, 50)) for k in range(2)])
    for n in range(10):  # the first image of item n duplicates the first image of item n + 10
        group(images[n][0], images[n + 10][0])
    split = splits(settings, tmp_path)
    for n in range(10):
        together = {split[image.image_id] for image in images[n] + images[n + 10]}
        assert len(together) == 1


def test_assign_splits_keeps_a_group_with_two_classes_in_one_split():
    entries = [
        DatasetEntry(f"{c}{n}", None, f"g{n}", None, "", c, 0, "", "")
        for n in range(12)
        for c in ("a", "b")
    ]
    assign_splits(entries, "seed")
    by_group = {}
    for entry in entries:
        by_group.setdefault(entry.group, set()).add(entry.split)
    assert all(len(found) == 1 for found in by_group.values())
