"""`muses_import` reading collection-system exports: Met, TMS and CollectiveAccess CSVs,
and Axiell/Adlib XML (`--importer adlib-xml`)."""

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from muses.collection.models import Image, Item

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"


def run_import(path, *args):
    out, err = StringIO(), StringIO()
    call_command("muses_import", str(path), "--no-features", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def fields(item: Item) -> tuple:
    return (item.object_number, item.title, item.object_type, item.medium, item.period)


def test_it_reads_the_mets_open_access_csv():
    out, err = run_import(FIXTURES / "met-open-access.csv")
    assert "3 items created" in out and err == ""
    item = Item.objects.get(object_number="X.100.1")
    assert fields(item) == (
        "X.100.1",
        "Bastet holding aegis and basket",
        "Statuette",
        "Cupreous metal",
        "Late Period (Saite)–Ptolemaic Period",
    )
    assert item.museum == "Metropolitan Museum of Art, New York, NY"
    assert item.source_url == "http://www.metmuseum.org/art/collection/search/329767"
    assert item.keywords == "Cats|Goddess"
    assert item.license == "CC0 1.0 (public domain)"
    assert Item.objects.get(object_number="X.100.3").license == ""  # not public domain


def test_it_reads_a_tms_object_table_keyed_on_the_accession_number():
    out, _ = run_import(FIXTURES / "tms-objects.csv", "--museum", "Cleveland Museum of Art")
    assert "3 items created" in out
    item = Item.objects.get(object_number="1920.1986")
    assert fields(item) == (
        "1920.1986",
        "Decorated Jar with Rope Pattern",
        "Vessels",
        "marl clay",
        "4000–3000 BCE",
    )
    # Without an accession number, TMS' own object id keeps the record apart.
    assert Item.objects.get(title="Petal-Shaped Bead").object_number == "10211"


def test_it_reads_a_collectiveaccess_csv_export():
    out, _ = run_import(FIXTURES / "collectiveaccess-objects.csv", "--museum", "AIC")
    assert "2 items created" in out
    item = Item.objects.get(object_number="CHI_119253")
    assert (item.title, item.medium, item.period) == (
        "Bottle",
        "Glass, mold-blown technique",
        "1st century",
    )
    assert (item.culture, item.description) == ("Egyptian", "Blown glass bottle")


@pytest.fixture
def adlib_export(tmp_path, sample_dir) -> Path:
    shutil.copy(FIXTURES / "adlib-objects.xml", tmp_path / "objects.xml")
    shutil.copy(sample_dir / "egyptian-cc0" / "images" / "MET_329767.jpg", tmp_path)
    return tmp_path / "objects.xml"


def test_it_reads_an_adlib_xml_export_with_grouped_and_multilingual_fields(adlib_export):
    out, err = run_import(adlib_export, "--importer", "adlib-xml")
    assert "2 items created, 0 updated, 1 images added" in out and err == ""
    item = Item.objects.get(object_number="AED 1234")
    assert fields(item) == (
        "AED 1234",
        "Bastet holding aegis and basket",
        "statuette",
        "cupreous metal",
        "-664 – -30",
    )
    assert item.museum == "Museum of Antiquities"
    assert item.images.get().width == 224
    # No object number: Adlib's record number is the key.
    assert Item.objects.get(title__startswith="Head and chest").object_number == "priref-1002"


def test_an_adlib_export_in_dutch_gives_the_dutch_values(adlib_export):
    run_import(adlib_export, "--importer", "adlib-xml", "--language", "nl")
    item = Item.objects.get(object_number="AED 1234")
    assert (item.title, item.object_type, item.language) == (
        "Bastet met aegis en mand",
        "beeldje",
        "nl",
    )


@pytest.mark.parametrize("language", ["nl-NL", "NL", "nl-be"])
def test_an_adlib_export_asked_in_its_own_language_tag_gives_the_dutch_values(
    adlib_export, language
):
    # The export tags its values "nl-NL": asked as such (or in other case or region), the
    # Dutch title wins over the English one.
    run_import(adlib_export, "--importer", "adlib-xml", "--language", language)
    item = Item.objects.get(object_number="AED 1234")
    assert (item.title, item.object_type) == ("Bastet met aegis en mand", "beeldje")


def test_without_the_asked_language_or_english_the_invariant_value_is_taken(tmp_path):
    path = tmp_path / "objects.xml"
    path.write_text(
        "<adlibXML><recordList><record><object_number>F 1</object_number><title>"
        '<value lang="fr-FR" invariant="false">Chat assis</value>'
        '<value lang="de-DE" invariant="true">Sitzende Katze</value>'
        "</title></record></recordList></adlibXML>\n"
    )
    run_import(path, "--importer", "adlib-xml", "--museum", "M", "--language", "nl")
    assert Item.objects.get(object_number="F 1").title == "Sitzende Katze"


def test_a_second_adlib_run_updates_and_never_duplicates(adlib_export):
    run_import(adlib_export, "--importer", "adlib-xml")
    out, _ = run_import(adlib_export, "--importer", "adlib-xml")
    assert "0 items created, 2 updated, 0 images added" in out
    assert (Item.objects.count(), Image.objects.count()) == (2, 1)


def test_an_xml_bomb_is_refused_and_changes_nothing(tmp_path, make_image):
    kept = make_image(image_id="kept")
    path = tmp_path / "bomb.xml"
    path.write_text(
        '<?xml version="1.0"?>\n'
        '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>\n'
        "<adlibXML><recordList><record><object_number>&lol2;</object_number>"
        "<institution.name>M</institution.name></record></recordList></adlibXML>\n"
    )
    with pytest.raises(CommandError, match="nothing could be imported"):
        out, err = run_import(path, "--importer", "adlib-xml")
    assert Item.objects.count() == 0
    assert list(Image.objects.values_list("image_id", flat=True)) == [kept.image_id]


def test_an_external_entity_is_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    path = tmp_path / "xxe.xml"
    path.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>\n'
        "<adlibXML><recordList><record><object_number>&x;</object_number>"
        "<institution.name>M</institution.name></record></recordList></adlibXML>\n"
    )
    err = StringIO()
    with pytest.raises(CommandError):
        call_command(
            "muses_import", str(path), "--importer", "adlib-xml", "--no-features", stderr=err
        )
    assert "xxe.xml: skipped: refused: the XML declares a DTD or entities" in err.getvalue()
    assert not Item.objects.filter(object_number__contains="do not read").exists()


def test_a_truncated_export_keeps_the_records_before_the_break_and_names_the_line(
    adlib_export,
):
    text = adlib_export.read_text()
    adlib_export.write_text(text[: text.index('<record priref="1002"')] + "<record><priref>9</pri")
    out, err = run_import(adlib_export, "--importer", "adlib-xml")
    assert "1 items created" in out and "1 rows skipped" in out
    assert "objects.xml: after record 1: skipped: not well-formed XML at line 31 column 21" in err
    assert list(Item.objects.values_list("object_number", flat=True)) == ["AED 1234"]


def test_a_record_without_number_or_priref_is_reported_with_its_position(tmp_path):
    path = tmp_path / "objects.xml"
    path.write_text(
        "<adlibXML><recordList>"
        "<record><object_number>A1</object_number><title>Jar</title></record>"
        "<record><title>Nameless</title></record>"
        "</recordList></adlibXML>"
    )
    out, err = run_import(path, "--importer", "adlib-xml", "--museum", "M")
    assert "1 items created" in out
    assert "objects.xml: record 2: skipped: no object_number and no priref" in err
