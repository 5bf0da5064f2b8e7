"""CSV importer: museum collection exports with known column names in English or Dutch."""

import csv
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

from muses.collection.importers import ImportRow, register

# Source column -> Item field. The first non-empty source column wins.
COLUMN_MAP: dict[str, tuple[str, ...]] = {
    "museum": ("museum", "institution", "collectie"),
    "object_number": ("object_number", "objectnumber", "objectnummer", "accession_number", "id"),
    "title": ("title", "titel", "name"),
    "object_type": ("object_type", "objectnaam", "objecttype", "classification"),
    "medium": ("medium", "material", "materiaal", "materials"),
    "period": ("period", "date", "datering", "dating"),
    "culture": ("culture", "cultuur"),
    "description": ("description", "beschrijving"),
    "keywords": ("keywords", "trefwoorden", "subjects"),
    "license": ("license", "licentie", "rights"),
    "source_url": ("source_url", "pid", "remote_image_url", "image_url", "url"),
}
IMAGE_COLUMNS = ("image_file", "image", "file", "filename")
MAX_LENGTHS = {
    "museum": 200,
    "object_number": 200,
    "object_type": 300,
    "period": 300,
    "culture": 300,
    "license": 300,
    "source_url": 1000,
}
DUTCH_FILENAME = re.compile(r"(^|[-_.])nl([-_.]|$)", re.IGNORECASE)


@register("csv")
def read_csv(
    path: Path, *, images_root: Path | None = None, museum: str = "", language: str = ""
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
    fields["museum"] = museum or fields["museum"]
    fields["language"] = language
    row = ImportRow(line=line, fields=_truncate(fields))
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
        row.image_path = _safe_join(images_root, image_name, row)
    return row


def guess_language(path: Path) -> str:
    return "nl" if DUTCH_FILENAME.search(path.stem) else "en"


def _normalise_keys(record: dict) -> dict[str, str]:
    return {
        (key or "").strip().lower().replace(" ", "_"): (value or "").strip()
        for key, value in record.items()
        if key is not None and isinstance(value, str)
    }


def _first(record: dict[str, str], columns: tuple[str, ...]) -> str:
    return next((record[c] for c in columns if record.get(c)), "")


def _date_range(start: str, end: str) -> str:
    return start if start == end or not end else f"{start} – {end}".strip(" –")


def _truncate(fields: dict[str, str]) -> dict[str, str]:
    return {k: v[: MAX_LENGTHS[k]] if k in MAX_LENGTHS else v for k, v in fields.items()}


def _safe_join(root: Path, name: str, row: ImportRow) -> Path | None:
    """Image paths stay inside the images root: a CSV must not read /etc/passwd."""
    candidate = (root / name).resolve()
    if not candidate.is_relative_to(root.resolve()):
        row.problems.append(f"image path {name!r} points outside the images folder")
        return None
    return candidate
