"""CSV importer: museum collection exports with known column names in English or Dutch."""

import csv
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

from muses.collection.importers.registry import register
from muses.collection.importers.rows import ImportRow, truncate_fields

# Source column -> Item field. The first non-empty source column wins. Besides MUSES' own
# names and Dutch ones, the column names of common collection-system exports (matched after
# lower-casing, spaces to '_' and dropping CollectiveAccess' 'ca_objects.' prefix):
# - the Met's open-access CSV: Object Number, Object Name, Title, Classification, Medium,
#   Culture, Period, Object Date, Repository, Tags, Link Resource, Is Public Domain;
# - TMS-style tables: objectid, accessionnum (or objectnumber), title, classification,
#   medium, displaydate (or dated);
# - CollectiveAccess CSV: idno, preferred_labels(.name), description, date, ...
COLUMN_MAP: dict[str, tuple[str, ...]] = {
    "museum": ("museum", "institution", "collectie", "repository"),
    "object_number": (
        "object_number",
        "objectnumber",
        "objectnummer",
        "accession_number",
        "accessionnum",
        "idno",
        "identifier",
        "id",
        "objectid",
    ),
    "title": ("title", "titel", "name", "preferred_labels", "preferred_labels.name"),
    "object_type": ("object_type", "objectnaam", "objecttype", "object_name", "classification"),
    "medium": ("medium", "material", "materiaal", "materials"),
    "period": ("period", "date", "datering", "dating", "object_date", "displaydate", "dated"),
    "culture": ("culture", "cultuur"),
    "description": ("description", "beschrijving"),
    "keywords": ("keywords", "trefwoorden", "subjects", "tags"),
    "license": ("license", "licentie", "rights", "rights_and_reproduction"),
    "source_url": (
        "source_url",
        "pid",
        "link_resource",
        "remote_image_url",
        "image_url",
        "url",
    ),
}
IMAGE_COLUMNS = ("image_file", "image", "file", "filename")
DUTCH_FILENAME = re.compile(r"(^|[-_.])nl([-_.]|$)", re.IGNORECASE)
COLLECTIVEACCESS_PREFIX = "ca_objects."
# The Met marks its CC0 objects with a flag rather than a licence column.
PUBLIC_DOMAIN_FLAGS = {"true", "yes", "1"}
PUBLIC_DOMAIN_LICENSE = "CC0 1.0 (public domain)"


@register("csv")
def read_csv(
    path: Path, *, images_root: Path | None = None, museum: str = "", language: str = "", **_
) -> Iterator[ImportRow]:
    """Yield one ImportRow per data line; problems are attached, never raised."""
    path = Path(path)
    images_root = Path(images_root) if images_root else path.parent
    language = language or guess_language(path)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        for record in reader:
            yield build_row(reader.line_num, _normalise_keys(record), images_root, museum, language)


def build_row(
    line: int, record: dict[str, str], images_root: Path, museum: str, language: str
) -> ImportRow:
    fields = {name: _first(record, columns) for name, columns in COLUMN_MAP.items()}
    if not fields["period"] and (record.get("date_start") or record.get("date_end")):
        fields["period"] = _date_range(record.get("date_start", ""), record.get("date_end", ""))
    if not fields["license"] and record.get("is_public_domain", "").lower() in PUBLIC_DOMAIN_FLAGS:
        fields["license"] = PUBLIC_DOMAIN_LICENSE
    fields["museum"] = museum or fields["museum"]
    fields["language"] = language
    row = ImportRow(line=line, fields=truncate_fields(fields))
    if not fields["title"] and not fields["object_number"]:
        row.problems.append("no title and no object number")
    if not fields["museum"]:
        row.problems.append("no museum (add a museum column or pass --museum)")
    if not fields["object_number"] and fields["title"]:
        # Without a number, the title keeps a re-import idempotent.
        digest = hashlib.sha1(fields["title"].encode()).hexdigest()[:12]
        row.fields["object_number"] = f"untitled-{digest}"
    image_name = _first(record, IMAGE_COLUMNS)
    if image_name:
        row.image_path = safe_join(images_root, image_name, row)
    return row


def guess_language(path: Path) -> str:
    return "nl" if DUTCH_FILENAME.search(path.stem) else "en"


def _normalise_keys(record: dict) -> dict[str, str]:
    return {
        _normalise_key(key): (value or "").strip()
        for key, value in record.items()
        if key is not None and isinstance(value, str)
    }


def _normalise_key(key: str) -> str:
    key = key.strip().lower().replace(" ", "_")
    return key.removeprefix(COLLECTIVEACCESS_PREFIX)


def _first(record: dict[str, str], columns: tuple[str, ...]) -> str:
    return next((record[c] for c in columns if record.get(c)), "")


def _date_range(start: str, end: str) -> str:
    return start if start == end or not end else f"{start} – {end}".strip(" –")


def safe_join(root: Path, name: str, row: ImportRow) -> Path | None:
    """Image paths stay inside the images root: a CSV must not read /etc/passwd."""
    candidate = (root / name).resolve()
    if not candidate.is_relative_to(root.resolve()):
        row.problems.append(f"image path {name!r} points outside the images folder")
        return None
    return candidate
