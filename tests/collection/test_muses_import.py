import csv
import io
import shutil

import pytest
from django.core.management import CommandError, call_command

from muses.collection.models import Image, Item
from tests.conftest import encode_image

# The numpy stand-in backbone of the custom-tagging tests (autouse): no TensorFlow here.
from tests.custom_tagging.conftest import tagging_backbone  # noqa: F401

pytestmark = pytest.mark.django_db


def run_import(path, *args):
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command("muses_import", str(path), "--no-features", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def write_csv(path, rows, header=("image_file", "museum", "object_number", "title", "object_type")):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def small_collection(tmp_path, sample_dir):
    """The first 12 rows of the bundled Egyptian sample, images beside the CSV."""
    source = sample_dir / "egyptian-cc0"
    with open(source / "collection.csv", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    (tmp_path / "images").mkdir()
    for row in rows[1:13]:
        shutil.copy(source / row[0], tmp_path / row[0])
    with open(tmp_path / "collection.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows[:13])
    return tmp_path / "collection.csv"


def test_it_imports_the_egyptian_sample_with_images(small_collection):
    out, err = run_import(small_collection)
    assert Item.objects.count() == 12
    assert Image.objects.count() == 12
    assert "12 items created" in out and err == ""
    image = Item.objects.first().images.get()
    assert (image.width, image.height, image.format) == (224, 224, "JPEG")
    assert image.file.name.startswith("images/") and image.sha256 in image.file.name


def test_a_second_run_updates_and_never_duplicates(small_collection):
    run_import(small_collection)
    before = {i.pk: i.title for i in Item.objects.all()}
    rows = list(csv.reader(open(small_collection, encoding="utf-8")))
    rows[1][3] = "Corrected title"
    write_csv(small_collection, rows[1:], header=rows[0])
    out, _ = run_import(small_collection)
    assert "0 items created, 12 updated, 0 images added" in out
    assert set(Item.objects.values_list("pk", flat=True)) == set(before)
    assert Image.objects.count() == 12
    assert Item.objects.get(object_number=rows[1][2]).title == "Corrected title"


def test_it_reports_each_kind_of_bad_row_with_its_line_and_imports_the_rest(tmp_path):
    (tmp_path / "good.jpg").write_bytes(encode_image())
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not a picture")
    (tmp_path / "cut.jpg").write_bytes(encode_image(size=(300, 300))[:500])
    path = write_csv(
        tmp_path / "c.csv",
        [
            ["good.jpg", "M", "1", "Good vase", "Vessel"],
            ["", "M", "", "", "Vessel"],
            ["missing.jpg", "M", "3", "Lost", "Vessel"],
            ["empty.jpg", "M", "4", "Empty", "Vessel"],
            ["text.jpg", "M", "5", "Text", "Vessel"],
            ["cut.jpg", "M", "6", "Cut", "Vessel"],
            ["../../etc/passwd", "M", "7", "Escape", "Vessel"],
        ],
    )
    out, err = run_import(path)
    assert "1 items created" in out and "6 rows skipped" in out
    assert "c.csv:3: skipped: no title and no object number" in err
    assert "c.csv:4: skipped: image missing.jpg: file not found" in err
    assert "c.csv:5: skipped: image empty.jpg: the file is empty" in err
    assert "c.csv:6: skipped: text.jpg: not an image" in err
    assert "c.csv:7: skipped: cut.jpg: truncated or corrupt" in err
    assert "c.csv:8: skipped: image path '../../etc/passwd' points outside" in err
    assert list(Item.objects.values_list("object_number", flat=True)) == ["1"]


def test_it_fails_only_when_nothing_could_be_imported(tmp_path):
    path = write_csv(tmp_path / "bad.csv", [["", "M", "", "", ""]])
    with pytest.raises(CommandError, match="nothing could be imported"):
        run_import(path)


def test_it_imports_the_dutch_rijksmuseum_catalogue_without_images(sample_dir):
    out, _ = run_import(sample_dir / "catalogues" / "rijksmuseum-suriname-nl.csv")
    assert "300 items created" in out
    item = Item.objects.filter(object_type__icontains="foto").first()
    assert item.language == "nl" and item.museum == "Rijksmuseum"
    assert item.source_url.startswith("https://id.rijksmuseum.nl/")
    assert Image.objects.count() == 0


def test_it_keeps_dutch_text_and_date_ranges_intact(tmp_path):
    path = write_csv(
        tmp_path / "rijks-nl.csv",
        [
            [
                "Rijksmuseum",
                "RP-F-1",
                "Gezicht op de Surinamerivier, één foto",
                "foto",
                "1890",
                "1899",
            ]
        ],
        header=("museum", "object_number", "title", "objectnaam", "date_start", "date_end"),
    )
    run_import(path)
    item = Item.objects.get()
    assert item.title == "Gezicht op de Surinamerivier, één foto"
    assert (item.object_type, item.period, item.language) == ("foto", "1890 – 1899", "nl")


def test_it_imports_the_english_walters_catalogue_mapping_known_columns(sample_dir):
    run_import(sample_dir / "catalogues" / "walters-art-museum.csv")
    assert Item.objects.count() == 400
    assert Item.objects.filter(museum="Walters Art Museum").exclude(medium="").exists()
    assert Item.objects.exclude(keywords="").exists()


def test_the_museum_option_fills_rows_that_have_none(tmp_path):
    path = write_csv(tmp_path / "x.csv", [["Bowl", "B-1"]], header=("title", "object_number"))
    run_import(path, "--museum", "Museum Gouda")
    assert Item.objects.get().museum == "Museum Gouda"


def test_an_unknown_importer_is_refused_with_the_known_ones(small_collection):
    with pytest.raises(CommandError, match="Unknown importer 'oai'.*csv"):
        run_import(small_collection, "--importer", "oai")


def test_the_same_image_bytes_are_stored_once(tmp_path):
    data = encode_image()
    (tmp_path / "a.jpg").write_bytes(data)
    (tmp_path / "b.jpg").write_bytes(data)
    path = write_csv(
        tmp_path / "c.csv", [["a.jpg", "M", "1", "One", "x"], ["b.jpg", "M", "2", "Two", "x"]]
    )
    run_import(path)
    files = {image.file.name for image in Image.objects.all()}
    assert Image.objects.count() == 2 and len(files) == 1


def test_it_reports_near_duplicates_among_the_new_images(tmp_path):
    from tests.vision.test_near_duplicate_signals import photo

    (tmp_path / "images").mkdir()
    rows = []
    for n in range(10):
        photo(n).save(tmp_path / "images" / f"{n}.jpg", quality=90)
        rows.append((f"images/{n}.jpg", "Met", f"M{n}", f"Object {n}", "Vessel"))
    photo(3).save(tmp_path / "images" / "copy.jpg", quality=50)
    rows.append(("images/copy.jpg", "Met", "M-copy", "Object 3 again", "Vessel"))
    out = io.StringIO()
    call_command("muses_import", str(write_csv(tmp_path / "c.csv", rows)), stdout=out)
    assert "near-duplicates: 2 of the 11 new images look like other images, in 1 groups" in (
        out.getvalue()
    )


def test_without_features_it_says_when_near_duplicates_are_checked(small_collection):
    out, _ = run_import(small_collection)
    assert "near-duplicates: checked as features are computed" in out


def test_a_rerun_after_a_killed_import_queues_features_for_the_images_it_committed(
    small_collection,
):
    from unittest import mock

    command = "muses.vision.receivers.features_enqueue"
    # The process dies after the rows were committed, before their features were queued.
    with mock.patch(command, side_effect=KeyboardInterrupt), pytest.raises(KeyboardInterrupt):
        call_command("muses_import", str(small_collection), stdout=io.StringIO())
    assert Image.objects.count() == 12
    out = io.StringIO()
    with mock.patch(command, return_value=1) as enqueue:
        call_command("muses_import", str(small_collection), stdout=out)
    assert "0 items created, 12 updated, 0 images added" in out.getvalue()
    assert (
        "queued feature extraction for 12 images in 1 job(s) (12 imported earlier without "
        "features)" in out.getvalue()
    )
    assert sorted(enqueue.call_args.kwargs["image_pks"]) == sorted(
        Image.objects.values_list("pk", flat=True)
    )


def test_a_rerun_queues_nothing_for_images_that_have_their_features(small_collection):
    first = io.StringIO()
    call_command("muses_import", str(small_collection), stdout=first)  # extracts (sync queue)
    assert "queued feature extraction for 12 images" in first.getvalue()
    out = io.StringIO()
    call_command("muses_import", str(small_collection), stdout=out)
    assert "12 updated" in out.getvalue() and "queued feature extraction" not in out.getvalue()
