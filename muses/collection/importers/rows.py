"""What an importer plugin yields: rows of Item fields, with the images it fetched."""

from dataclasses import dataclass, field
from pathlib import Path

from muses.collection.decode import DecodedImage

# Item fields' column sizes: longer values are cut, not refused.
MAX_LENGTHS = {
    "museum": 200,
    "object_number": 200,
    "object_type": 300,
    "period": 300,
    "culture": 300,
    "license": 300,
    "source_url": 1000,
}


@dataclass
class FetchedImage:
    """An image an importer downloaded (and decoded, to refuse non-images early)."""

    data: bytes
    name: str
    decoded: DecodedImage | None = None
    iiif_manifest: str = ""
    iiif_canvas: str = ""
    iiif_body: dict | None = None


@dataclass
class ImportRow:
    line: int  # line number in the source, for error messages
    fields: dict[str, str]  # Item fields, already mapped
    image_path: Path | None = None
    problems: list[str] = field(default_factory=list)
    # Where the row came from when a line number says nothing (a manifest URL).
    where: str = ""
    images: list[FetchedImage] = field(default_factory=list)
    # Images that could not be fetched: reported one per line, the record still imports.
    image_failures: list[str] = field(default_factory=list)
    # What the importer did differently from the obvious, one line each (a skipped canvas).
    notes: list[str] = field(default_factory=list)
    # The IIIF canvases this row's item shows: images imported earlier from them under
    # another item (before their canvas had an object number) move to this one.
    iiif_manifest: str = ""
    iiif_canvases: list[str] = field(default_factory=list)


def truncate_fields(fields: dict[str, str]) -> dict[str, str]:
    return {k: v[: MAX_LENGTHS[k]] if k in MAX_LENGTHS else v for k, v in fields.items()}
