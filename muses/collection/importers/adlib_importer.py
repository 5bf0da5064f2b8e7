"""Axiell/Adlib XML importer: ``adlibXML/recordList/record`` exports of Adlib and Axiell
Collections, grouped (``<Title><title>..</title></Title>``) or flat, with multilingual
``<value lang="..">`` fields.

The XML is parsed with defusedxml and DTDs are refused outright: an export never needs
one, and a DTD is how entity-expansion bombs and external-entity reads arrive.
"""

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from muses.collection.importers.csv_importer import safe_join
from muses.collection.importers.registry import register
from muses.collection.importers.rows import ImportRow, truncate_fields

# Adlib field tag (lower case) -> Item field; the first non-empty one wins.
FIELD_TAGS: dict[str, tuple[str, ...]] = {
    "museum": ("institution.name", "institution"),
    "object_number": ("object_number", "objectnumber"),
    "title": ("title",),
    "object_type": ("object_name", "object_category"),
    "medium": ("material", "technique"),
    "culture": ("culture", "production.culture"),
    "description": ("description", "physical_description"),
    "keywords": ("content.subject", "subject"),
    "license": ("rights.type", "copyright"),
    "source_url": ("persistent_id", "pid"),
}
DATE_START = ("production.date.start", "dating.date.start")
DATE_END = ("production.date.end", "dating.date.end")
DATE_TEXT = ("production.period", "dating.period", "production.date")
IMAGE_TAGS = ("reproduction.reference", "reproduction.identifier_url")


@register("adlib-xml")
def read_adlib_xml(
    path: Path, *, images_root: Path | None = None, museum: str = "", language: str = "", **_
) -> Iterator[ImportRow]:
    """Yield one ImportRow per record; a malformed document ends with a row naming where."""
    path = Path(path)
    images_root = Path(images_root) if images_root else path.parent
    number = 0
    try:
        for _, element in iterparse(str(path), events=("end",), forbid_dtd=True):
            if element.tag != "record":
                continue
            number += 1
            yield _row(number, element, path, images_root, museum, language)
            element.clear()  # a large export is read record by record, not held whole
    except DefusedXmlException as exc:
        yield _failure(number, path, f"refused: the XML declares a DTD or entities ({exc})")
    except ET.ParseError as exc:
        line, column = exc.position
        yield _failure(
            number, path, f"not well-formed XML at line {line} column {column}; stopped here"
        )


def _row(
    number: int, record: ET.Element, path: Path, images_root: Path, museum: str, language: str
) -> ImportRow:
    values = record_values(record, language)
    fields = {name: _first(values, tags) for name, tags in FIELD_TAGS.items()}
    fields["period"] = _period(values)
    fields["museum"] = museum or fields["museum"]
    fields["language"] = language
    priref = values.get("priref") or record.get("priref", "")
    where = f"{path.name}: record {number}" + (f" (priref {priref})" if priref else "")
    if not fields["object_number"] and priref:
        fields["object_number"] = f"priref-{priref}"  # Adlib's own record number
    row = ImportRow(line=number, fields=truncate_fields(fields), where=where)
    if not fields["object_number"]:
        row.problems.append("no object_number and no priref")
    if not fields["museum"]:
        row.problems.append("no museum (add institution.name or pass --museum)")
    image_name = _first(values, IMAGE_TAGS)
    if image_name and not image_name.startswith(("http://", "https://")):
        row.image_path = safe_join(images_root, image_name, row)
    return row


def record_values(record: ET.Element, language: str = "") -> dict[str, str]:
    """Tag (lower case) -> text of its first non-empty occurrence, at any depth: field
    groups are flattened; a field of <value lang=".."> children gives the preferred language."""
    values: dict[str, str] = {}
    for element in record.iter():
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if not tag or tag == "value" or tag in values:
            continue
        value = _text(element, language)
        if value:
            values[tag] = value
    return values


def _text(element: ET.Element, language: str) -> str:
    translations = element.findall("value")
    if translations:
        return _preferred(translations, language)
    if len(element):  # a group: its fields are read one by one
        return ""
    return " ".join((element.text or "").split())


def _preferred(translations: list[ET.Element], language: str) -> str:
    """The translation in the asked language (by its primary subtag: 'nl', 'nl-NL' and
    'NL-be' all ask for Dutch), English, the invariant one, or the first with text."""
    texts = [
        (_primary(v.get("lang", "")), v.get("invariant", "").lower() == "true", _squeezed(v))
        for v in translations
    ]
    texts = [(lang, invariant, text) for lang, invariant, text in texts if text]
    for wanted in (_primary(language), "en"):
        for lang, _, text in texts:
            if wanted and lang == wanted:
                return text
    invariant = [text for _, is_invariant, text in texts if is_invariant]
    return (invariant or [text for _, _, text in texts] or [""])[0]


def _primary(language_tag: str) -> str:
    return language_tag.strip().lower().split("-")[0]


def _squeezed(element: ET.Element) -> str:
    return " ".join((element.text or "").split())


def _period(values: dict[str, str]) -> str:
    start, end = _first(values, DATE_START), _first(values, DATE_END)
    if start or end:
        return start if start == end or not end else f"{start} – {end}".strip(" –")
    return _first(values, DATE_TEXT)


def _first(values: dict[str, str], tags: tuple[str, ...]) -> str:
    return next((values[t] for t in tags if values.get(t)), "")


def _failure(number: int, path: Path, reason: str) -> ImportRow:
    where = f"{path.name}: after record {number}" if number else path.name
    return ImportRow(line=number, fields={}, where=where, problems=[reason])
