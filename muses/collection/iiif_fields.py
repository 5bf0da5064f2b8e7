"""Item fields from IIIF labels, summaries, metadata and rights: one plain string per field,
in the preferred language, from 2.1 strings, value objects and lists or 3.0 language maps."""

import hashlib
import html
import re
from urllib.parse import urlsplit

from muses.collection.iiif_json import dicts

MAX_OBJECT_NUMBER = 200
PREFERRED_LANGUAGES = ("en", "none", "@none")

# Normalised metadata label (in any language the label gives) -> Item field.
LABEL_FIELDS: dict[str, tuple[str, ...]] = {
    "object_number": (
        "object number",
        "accession number",
        "accession no",
        "accession",
        "identifier",
        "inventory number",
        "inventory no",
        "catalogue number",
        "catalog number",
        "registration number",
        "call number",
        "shelfmark",
        "objectnummer",
        "inventarisnummer",
        "numéro d inventaire",
        "inventarnummer",
    ),
    "object_type": (
        "object type",
        "object name",
        "type",
        "classification",
        "work type",
        "objectnaam",
        "objecttype",
        "objektbezeichnung",
    ),
    "period": ("date", "dated", "object date", "period", "creation date", "datering", "datum"),
    "medium": ("medium", "material", "materials", "medium and support", "materiaal", "technique"),
    "culture": ("culture", "cultuur", "kultur"),
    "keywords": ("subject", "subjects", "keywords", "trefwoorden"),
    "description": ("description", "beschrijving"),
    "title": ("title", "titel"),
    "museum": ("repository", "institution", "museum", "holding institution", "owner"),
}
LABEL_TO_FIELD = {label: name for name, labels in LABEL_FIELDS.items() for label in labels}
TAG_RE = re.compile(r"<[^>]*>")


def text(value, language: str = "") -> str:
    """One plain string from a 2.1 string / value object / list or a 3.0 language map, in
    the preferred language where there is a choice; HTML markup removed."""
    if value is None:
        return ""
    if isinstance(value, str):
        return _plain(value)
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return _text_of_list(value, language)
    if isinstance(value, dict):
        if "@value" in value:
            return _plain(str(value["@value"]))
        return _text_of_map(value, language)
    return ""


def all_texts(value) -> list[str]:
    """Every language's text of a label, for matching labels written in any language."""
    if isinstance(value, dict) and "@value" not in value:
        return [text(v) for v in value.values()]
    if isinstance(value, list):
        return [t for v in value for t in all_texts(v)]
    return [text(value)]


def _text_of_list(values: list, language: str) -> str:
    tagged = [v for v in values if isinstance(v, dict) and "@language" in v]
    if tagged and len(tagged) == len(values):
        by_language = {v["@language"]: v for v in tagged}
        return text(_pick(by_language, language))
    return "; ".join(t for t in (text(v, language) for v in values) if t)


def _text_of_map(values: dict, language: str) -> str:
    chosen = _pick(values, language)
    return text(chosen, language) if chosen is not None else ""


def _pick(by_language: dict, language: str):
    for key in (language, *PREFERRED_LANGUAGES):
        if key and key in by_language:
            return by_language[key]
    return next(iter(by_language.values()), None)


def _plain(value: str) -> str:
    return " ".join(html.unescape(TAG_RE.sub(" ", value)).split())


def item_fields(doc: dict, version: int, language: str) -> dict[str, str]:
    fields = metadata_fields(doc, language)
    fields["title"] = text(doc.get("label"), language) or fields.get("title", "")
    summary = text(doc.get("summary" if version == 3 else "description"), language)
    fields["description"] = summary or fields.get("description", "")
    fields["license"] = license_of(doc, version, language)
    return fields


def metadata_fields(doc: dict, language: str) -> dict[str, str]:
    """Item fields from a manifest's or a canvas's metadata, the first of each kept."""
    fields: dict[str, str] = {}
    for entry in dicts(doc.get("metadata")):
        name = _field_for_label(entry.get("label"))
        value = text(entry.get("value"), language)
        if name and value and not fields.get(name):
            fields[name] = value
    return fields


def _field_for_label(label) -> str:
    for candidate in all_texts(label):
        name = LABEL_TO_FIELD.get(_normalise(candidate))
        if name:
            return name
    return ""


def _normalise(label: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", label.lower()).split())


def license_of(doc: dict, version: int, language: str) -> str:
    """Rights (a URI) and the required attribution statement, both kept."""
    if version == 3:
        rights = text(doc.get("rights"))
        statement = doc.get("requiredStatement") or {}
        attribution = text(statement.get("value"), language) if isinstance(statement, dict) else ""
    else:
        rights = text(doc.get("license"), language)
        attribution = text(doc.get("attribution"), language)
    return " — ".join(part for part in (rights, attribution) if part)


def provider_of(doc: dict, language: str) -> str:
    providers = doc.get("provider") or []
    if isinstance(providers, list) and providers and isinstance(providers[0], dict):
        return text(providers[0].get("label"), language)
    return ""


def host_of(url: str) -> str:
    return urlsplit(url).hostname or "iiif"


def number_from_id(manifest_id: str) -> str:
    """The manifest id is the key when there is no object number; a digest of it when it
    is longer than an object number may be."""
    if len(manifest_id) <= MAX_OBJECT_NUMBER:
        return manifest_id
    return f"iiif-{hashlib.sha256(manifest_id.encode()).hexdigest()[:32]}"
