"""Naive labels: find class synonyms as whole words in an item's title or object type.

Matching works on normalised word tokens, so "Vases" finds "vase", "reliëf" finds "relief",
"figuren" finds "figuur", but "Offering" never finds "ring" and "Handtekeningen" never finds
"tekening": a word matches only as a whole token (or a run of tokens for a multi-word synonym).

A field is read up to its first *subject cue* ("with", "holding", "in the form of", Dutch "met"
...): what follows says what an object shows or carries, not what it is. "Statuette of a Woman
Holding a Jar" is statuary, not a vessel; "Cosmetic Spoon with Duck-Head Handle" and "Mummy with
Mask and Broad Collar" name no class at all, so they are skipped rather than mislabelled.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# Searched in this order; the field where the winning class is found first is recorded.
FIELDS = ("title", "object_type")
TOKEN_RE = re.compile(r"[^\W_]+")
VOWELS = set("aeiou")
# Dutch writes a long vowel double in a closed syllable and single in an open one:
# figuur -> figuren, kraal -> kralen; and voices a final s or f: vaas -> vazen.
DUTCH_VOICING = {"s": "z", "f": "v"}

SKIP_NO_MATCH = "no class word"
SKIP_AMBIGUOUS = "several classes"


def normalise(text: str) -> list[str]:
    """Lower-case word tokens with accents removed: "Reliëf (Stèle)" -> ["relief", "stele"]."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return TOKEN_RE.findall(stripped.casefold())


def word_forms(word: str) -> set[str]:
    """A singular and its simple English and Dutch plurals."""
    forms = {word, word + "s", word + "es"}
    if word.endswith("y") and len(word) > 1 and word[-2] not in VOWELS:
        forms.add(word[:-1] + "ies")  # reliquary -> reliquaries
    # Where Dutch respells the stem, the plain "+en" is not a plural but often another
    # word ("kom" -> "komen" is "to come", "beker" -> "bekeren" is "to convert").
    return forms | (_dutch_plurals(word) or {word + "en"})


def _dutch_plurals(word: str) -> set[str]:
    # "ij" is one vowel sound (schilderij -> schilderijen), not a vowel and a consonant.
    if len(word) < 3 or word[-1] in VOWELS or word.endswith("ij"):
        return set()
    last, before, earlier = word[-1], word[-2], word[-3]
    if before in VOWELS and earlier == before:  # figuur -> figuren, vaas -> vazen
        stem = word[:-2]
        return {stem + last + "en", stem + DUTCH_VOICING.get(last, last) + "en"}
    if before in VOWELS and earlier not in VOWELS:  # kom -> kommen, fles -> flessen
        return {word + last + "en"}
    return set()


@dataclass(frozen=True)
class Match:
    class_name: str
    field: str
    word: str  # the words as found in the field, normalised ("vases", "eye of horus")
    synonym: str


@dataclass(frozen=True)
class Label:
    """The decision for one record: a class with the word and field that decided, or a
    reason to skip it."""

    class_name: str | None
    word: str = ""
    field: str = ""
    skipped: str = ""
    candidates: tuple[str, ...] = ()


class SynonymIndex:
    """All word forms of all synonyms, looked up by their first token."""

    def __init__(self, synonyms: Mapping[str, Iterable[str]], subject_cues: Iterable[str] = ()):
        self.max_length = 1
        self._by_first: dict[str, list[tuple[tuple[str, ...], str, str]]] = {}
        self.cues = [tuple(tokens) for cue in subject_cues if (tokens := normalise(cue))]
        for class_name, words in synonyms.items():
            for synonym in words:
                self._add(class_name, synonym)

    def _add(self, class_name: str, synonym: str) -> None:
        tokens = normalise(synonym)
        if not tokens:
            return
        for last in word_forms(tokens[-1]):
            phrase = (*tokens[:-1], last)
            self._by_first.setdefault(phrase[0], []).append((phrase, class_name, synonym))
            self.max_length = max(self.max_length, len(phrase))

    def find(self, text: str, field: str) -> list[Match]:
        """Every synonym occurrence in ``text``, longest phrase first at each position."""
        tokens = self.object_part(normalise(text))
        found = []
        for start, token in enumerate(tokens):
            for phrase, class_name, synonym in self._candidates(token):
                if tuple(tokens[start : start + len(phrase)]) == phrase:
                    found.append(Match(class_name, field, " ".join(phrase), synonym))
        return found

    def object_part(self, tokens: list[str]) -> list[str]:
        """The tokens before the first subject cue (a cue as the first word does not count:
        "With Love" is a title, not a description)."""
        for start in range(1, len(tokens)):
            if any(tuple(tokens[start : start + len(cue)]) == cue for cue in self.cues):
                return tokens[:start]
        return tokens

    def _candidates(self, token: str):
        return sorted(self._by_first.get(token, ()), key=lambda entry: -len(entry[0]))


class NaiveLabeller:
    """Decides one class per record from its fields, using the class priority when several
    classes are named, or skipping the record when there is no priority."""

    def __init__(
        self,
        synonyms: Mapping[str, Iterable[str]],
        priority: Sequence[str] | None = None,
        fields: Sequence[str] = FIELDS,
        subject_cues: Iterable[str] = (),
    ):
        self.index = SynonymIndex(synonyms, subject_cues)
        self.priority = list(priority or [])
        self.fields = tuple(fields)

    def matches(self, record: Mapping[str, str]) -> list[Match]:
        return [m for f in self.fields for m in self.index.find(record.get(f, "") or "", f)]

    def label(self, record: Mapping[str, str]) -> Label:
        matches = self.matches(record)
        named = tuple(dict.fromkeys(m.class_name for m in matches))
        if not named:
            return Label(None, skipped=SKIP_NO_MATCH)
        winner = named[0] if len(named) == 1 else self._prioritised(named)
        if winner is None:
            return Label(None, skipped=SKIP_AMBIGUOUS, candidates=named)
        decisive = next(m for m in matches if m.class_name == winner)
        return Label(winner, word=decisive.word, field=decisive.field, candidates=named)

    def _prioritised(self, named: tuple[str, ...]) -> str | None:
        ranked = [name for name in self.priority if name in named]
        return ranked[0] if ranked else None
