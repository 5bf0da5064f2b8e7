"""The class definitions and their import-time check."""

import csv

import pytest

from exporters.naive.labels import NaiveLabeller
from naive_classification import definitions
from naive_classification.definitions import DefinitionsError, check_definitions


def test_the_default_classes_are_numbered_from_zero():
    assert sorted(definitions.classes.values()) == list(range(len(definitions.classes)))
    assert definitions.class_names()[0] == "statuary"


def test_the_default_classes_label_most_of_the_egyptian_sample(sample_dir):
    labeller = NaiveLabeller(
        definitions.synonyms_extended,
        definitions.class_priority,
        subject_cues=definitions.subject_cues,
    )
    with open(sample_dir / "egyptian-cc0" / "collection.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    labelled = [row for row in rows if labeller.label(row).class_name]
    assert len(labelled) / len(rows) > 0.8


def test_classes_missing_from_the_synonyms_are_named():
    with pytest.raises(DefinitionsError, match=r"only in classes: \['coin'\]"):
        check_definitions({"vessel": 0, "coin": 1}, {"vessel": ["jar"]})


def test_indices_must_run_from_zero_without_gaps():
    with pytest.raises(DefinitionsError, match=r"must be 0..1, each once; got \[0, 2\]"):
        check_definitions({"vessel": 0, "coin": 2}, {"vessel": ["jar"], "coin": ["coin"]})


def test_a_class_without_words_is_refused():
    with pytest.raises(DefinitionsError, match=r"without any synonym: \['coin'\]"):
        check_definitions({"vessel": 0, "coin": 1}, {"vessel": ["jar"], "coin": []})


def test_the_priority_may_name_only_known_classes():
    with pytest.raises(DefinitionsError, match=r"unknown classes: \['ship'\]"):
        check_definitions({"vessel": 0}, {"vessel": ["jar"]}, ["ship", "vessel"])
