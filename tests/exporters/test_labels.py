"""The naive labeller on real titles and object types from sample/catalogues (Walters Art
Museum in English, Rijksmuseum in Dutch), with hand-checked expectations."""

import csv

import pytest

from exporters.naive.labels import (
    SKIP_AMBIGUOUS,
    SKIP_NO_MATCH,
    NaiveLabeller,
    normalise,
    word_forms,
)
from naive_classification import definitions


@pytest.fixture(scope="module")
def labeller():
    return NaiveLabeller(
        definitions.synonyms_extended,
        definitions.class_priority,
        subject_cues=definitions.subject_cues,
    )


def catalogue_record(sample_dir, filename, title):
    """The real row with this title, so the test fails if the sample changes."""
    with open(sample_dir / "catalogues" / filename, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["title"] == title:
                return {"title": row["title"], "object_type": row["object_type"]}
    raise AssertionError(f"{title!r} is not in {filename}")


WALTERS = "walters-art-museum.csv"
RIJKS = "rijksmuseum-suriname-nl.csv"

# (file, title, class, matched word, field)
MATCHES = [
    (WALTERS, "Seal with Saint George", "sealing", "seal", "title"),
    (WALTERS, "Thin Vase with Floral Decoration", "vessel", "vase", "title"),
    (WALTERS, "Finger Ring", "jewellery", "ring", "title"),
    (WALTERS, "Earring", "jewellery", "earring", "title"),
    # a multi-word synonym wins over its first word
    (WALTERS, "Cylinder Seal with Two Heroes and a Tree", "sealing", "cylinder seal", "title"),
    # "Offering" holds "ring", but not as a word
    (
        WALTERS,
        "Cylinder Seal with a Deity Accepting an Offering",
        "sealing",
        "cylinder seal",
        "title",
    ),
    # "Headdress" holds "head", but not as a word; the plural object type decides
    (WALTERS, "Priest with Rayed Headdress", "statuary", "statuettes", "object_type"),
    (WALTERS, "Virgin and Child", "relief", "relief", "object_type"),
    # several classes: the priority decides (a vessel with a head is a vessel)
    (
        WALTERS,
        "Red-Figure Kantharos (Drinking Vessel) with Female Head",
        "vessel",
        "vessel",
        "title",
    ),
    (WALTERS, "Box for Ushabtis or Canopic Jars", "vessel", "jars", "title"),
    (
        WALTERS,
        "Emblematical Figures, Representations and Etc. To Please the Eye",
        "painting",
        "sketch",
        "object_type",
    ),
    # an illuminated manuscript page showing a ring is a painting, not jewellery
    (WALTERS, "Shirin Receives a Ring from Khusraw", "painting", "manuscripts", "object_type"),
    # Dutch: plural "duiten" of "duit"
    (RIJKS, "2 duiten van Suriname, 1679", "coin", "duiten", "title"),
    (RIJKS, "Huizen bij een rivier", "painting", "tekening", "object_type"),
    (RIJKS, "Javaanse danser bij een schaal", "vessel", "schaal", "title"),
    # "schilderijen" (paintings) and "beelden" (statues): painting comes first
    (
        RIJKS,
        "Herfstflora 70. Mexicaanse kunst, kunst uit Suriname, schilderijen, beelden, "
        "ceramiek, wandtapijten van Josje Smit, Japanse bloemsierkunst en verzorgd door de "
        "Nederlandse Ikebana club",
        "painting",
        "schilderijen",
        "title",
    ),
]

NO_MATCHES = [
    # "Rearing" holds "ring"
    (WALTERS, 'Incense Burner ("Koro") with Rearing Lion'),
    # "Handtekeningen" (signatures) holds "tekeningen" (drawings)
    (RIJKS, "10 Handtekeningen van de deelnemers aan de RTC"),
    # "Straatbeeld" (street scene) holds "beeld" (statue)
    (RIJKS, "Straatbeeld met begrafenisoptocht"),
    # "prentbriefkaart" (picture postcard) is no class word
    (RIJKS, "Paramaribo : Havengezicht"),
]


@pytest.mark.parametrize("filename,title,class_name,word,field", MATCHES)
def test_it_labels_real_catalogue_titles(
    labeller, sample_dir, filename, title, class_name, word, field
):
    label = labeller.label(catalogue_record(sample_dir, filename, title))
    assert (label.class_name, label.word, label.field) == (class_name, word, field)


@pytest.mark.parametrize("filename,title", NO_MATCHES)
def test_it_does_not_match_a_class_word_inside_another_word(labeller, sample_dir, filename, title):
    label = labeller.label(catalogue_record(sample_dir, filename, title))
    assert label.class_name is None
    assert label.skipped == SKIP_NO_MATCH


def test_it_skips_a_record_naming_several_classes_when_there_is_no_priority(sample_dir):
    labeller = NaiveLabeller(definitions.synonyms_extended, priority=None)
    record = catalogue_record(
        sample_dir, WALTERS, "Red-Figure Kantharos (Drinking Vessel) with Female Head"
    )
    label = labeller.label(record)
    assert label.class_name is None
    assert label.skipped == SKIP_AMBIGUOUS
    assert label.candidates == ("statuary", "vessel")


def test_it_ignores_case_and_accents():
    labeller = NaiveLabeller({"relief": ["relief"], "vessel": ["vase"]})
    assert labeller.label({"title": "RELIËF met Stèle"}).class_name == "relief"
    assert labeller.label({"title": "Vâses"}).word == "vases"


def test_it_records_the_field_where_the_winning_class_was_found():
    labeller = NaiveLabeller({"coin": ["coin"], "vessel": ["jar"]}, priority=["vessel", "coin"])
    label = labeller.label({"title": "Coin hoard", "object_type": "Jar"})
    assert (label.class_name, label.word, label.field) == ("vessel", "jar", "object_type")


def test_it_finds_multi_word_synonyms_only_in_order():
    labeller = NaiveLabeller({"amulet": ["eye of horus"]})
    assert labeller.label({"title": "Eye of Horus (Wedjat) Amulet"}).word == "eye of horus"
    assert labeller.label({"title": "Horus of the Eye"}).class_name is None


def test_it_forms_english_and_dutch_plurals():
    assert {"vases", "dishes", "reliquaries"} <= word_forms("vase") | word_forms(
        "dish"
    ) | word_forms("reliquary")
    assert {"figuren", "vazen", "kralen", "flessen", "schilderijen", "munten"} <= set().union(
        *(word_forms(w) for w in ("figuur", "vaas", "kraal", "fles", "schilderij", "munt"))
    )


def test_it_does_not_turn_a_dutch_word_into_another_word():
    # "komen" is "to come", "bekeren" "to convert": their plurals are "kommen" and "bekers"
    assert "komen" not in word_forms("kom")
    assert "kommen" in word_forms("kom")
    assert "bekeren" not in word_forms("beker")


def test_it_normalises_text_into_words():
    assert normalise("Reliëf (Stèle), Woman’s HEAD_x") == [
        "relief",
        "stele",
        "woman",
        "s",
        "head",
        "x",
    ]


# Real records (museum, object number, title, object type) from the full catalogues in
# ../shared/data, hand-checked: the object is named before a subject cue such as "with",
# "holding" or Dutch "met"; what follows is what it shows or carries.
NAMED_BEFORE_A_CUE = [
    # Walters 48.2794: a ceramic figure, not a bowl
    ("Kneeling Female Figure Holding a Bowl", "figures", "statuary"),
    # Walters 57.1600: a necklace, not coins
    ("Necklace with Pendant Coins", "necklaces", "jewellery"),
    # Walters 49.2281: a vase, not a relief
    ("Vase with Low-Relief Decoration of Bamboo Leaves", "vases", "vessel"),
    # Chicago CHI_3603: a jar, not a relief
    (
        "Jar with Relief of Standing Figure with Crescent Headdress, Holding Ritual Objects",
        "Ceramics",
        "vessel",
    ),
    # Met 544677: a statue torso, not a stela
    (
        "Torso of Nefertiti from a dyad holding a stela in front of the bodies",
        "Nefertiti torso, Aten cartouches",
        "statuary",
    ),
    # Met 544022: a juglet (a small jug) with a ring base, not a ring
    ("Cypriote ring based juglet", "Juglet, Cypriot, ring based", "vessel"),
]

# Real records whose class words all follow a cue: the object itself is none of our classes.
NOTHING_NAMED_BEFORE_A_CUE = [
    # Met 544050: a spoon
    ("Cosmetic spoon with duck-head handle", "Cosmetic, spoon, duck, goose, bird"),
    # Cleveland 156277: a weight
    ("Weight in the Form of a Hippopotamus Head", "Implements"),
    # Met 544322: a mummy, not jewellery
    ("Mummy of Khnumhotep with mask and broad collar", "Mummy and mask, Khnumhotep, human remains"),
    # Rijksmuseum NG-2016-53-11 and -8: photographs of people ("girl with earrings",
    # "man with a yellow cup")
    ("Meisje met oorbellen", "foto"),
    ("Man met gele beker", "foto"),
]


@pytest.mark.parametrize("title,object_type,class_name", NAMED_BEFORE_A_CUE)
def test_the_object_named_before_with_or_holding_decides_the_class(
    labeller, title, object_type, class_name
):
    label = labeller.label({"title": title, "object_type": object_type})
    assert label.class_name == class_name


@pytest.mark.parametrize("title,object_type", NOTHING_NAMED_BEFORE_A_CUE)
def test_class_words_after_with_or_in_the_form_of_do_not_label_the_object(
    labeller, title, object_type
):
    label = labeller.label({"title": title, "object_type": object_type})
    assert label.class_name is None
    assert label.skipped == SKIP_NO_MATCH


def test_a_buckle_plate_with_a_birds_head_finial_is_not_statuary(labeller, sample_dir):
    record = catalogue_record(sample_dir, WALTERS, "Buckle Plate with a Bird's Head Finial")
    assert labeller.label(record).class_name is None


def test_a_subject_cue_as_the_first_word_does_not_hide_the_rest():
    labeller = NaiveLabeller({"vessel": ["vase"]}, subject_cues=["with"])
    assert labeller.label({"title": "With vase"}).class_name == "vessel"
    assert labeller.label({"title": "Box with vase"}).class_name is None


def test_without_subject_cues_every_class_word_counts():
    labeller = NaiveLabeller({"vessel": ["bowl"], "statuary": ["figure"]})
    label = labeller.label({"title": "Kneeling Female Figure Holding a Bowl"})
    assert label.candidates == ("statuary", "vessel")
