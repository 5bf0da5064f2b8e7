"""IIIF Presentation 2.1 and 3.0 documents read into one shape: the objects a manifest
shows, and the image (with its selection) each canvas paints. No network here: the
importer fetches, this module only reads JSON (its fields with iiif_fields, what a canvas
paints with iiif_painted); iiif_image builds the Image API requests.

2.1 and 3.0 differ in spelling (``@id``/``id``, ``sequences[].canvases[].images[].resource``
/ ``items[].items[].items[].body``, strings / language maps), not in meaning.
"""

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from muses.collection.iiif_fields import (
    host_of,
    item_fields,
    license_of,
    metadata_fields,
    number_from_id,
    provider_of,
    text,
)
from muses.collection.iiif_json import IIIFError, as_list, dicts, doc_id, doc_kind, doc_version
from muses.collection.iiif_painted import CanvasImage, canvas_image


@dataclass
class ObjectRecord:
    """One museum object of a manifest: its Item fields and the canvases that show it."""

    fields: dict[str, str]
    canvases: list[CanvasImage] = field(default_factory=list)


@dataclass
class ManifestRecord:
    manifest_id: str
    version: int
    fields: dict[str, str]
    canvases: list[CanvasImage] = field(default_factory=list)
    # The manifest's object first (when a canvas shows it), then one per object number
    # that canvases carry of their own.
    objects: list[ObjectRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # one line per canvas, said to the user


def collection_members(doc: dict) -> list[tuple[str, str]]:
    """(kind, id) of every manifest and sub-collection a collection lists."""
    if doc_version(doc) == 3:
        members = doc.get("items") or []
    else:
        members = [
            *(doc.get("collections") or []),
            *(doc.get("manifests") or []),
            *(doc.get("members") or []),
        ]
    found = []
    for member in members:
        if isinstance(member, dict) and doc_kind(member) and doc_id(member):
            found.append((doc_kind(member), doc_id(member)))
        elif isinstance(member, str):
            found.append(("Manifest", member))
    return found


def manifest_record(doc: dict, *, museum: str = "", language: str = "") -> ManifestRecord:
    """The Item fields and the painted images of one manifest, grouped by object; IIIFError
    when it has no id or no canvases. A canvas that paints no image is a note, not an error."""
    manifest_id = doc_id(doc)
    if not manifest_id:
        raise IIIFError("the manifest has no id")
    version = doc_version(doc)
    fields = item_fields(doc, version, language)
    fields["museum"] = (
        museum or fields.get("museum") or provider_of(doc, language) or host_of(manifest_id)
    )
    fields["source_url"] = manifest_id if len(manifest_id) <= 1000 else ""
    fields["object_number"] = fields.get("object_number") or number_from_id(manifest_id)
    fields["language"] = language
    canvases = _v3_canvases(doc) if version == 3 else _v2_canvases(doc)
    if not canvases:
        raise IIIFError("the manifest has no canvases (its items/sequences are empty or missing)")
    record = ManifestRecord(manifest_id, version, fields)
    _read_canvases(record, canvases, language)
    return record


# --- canvases and the objects they show ---------------------------------------------------

# (canvas, [(painting body, target)]) in either version's shape.
Canvases = list[tuple[dict, list[tuple[object, object]]]]


def _read_canvases(record: ManifestRecord, canvases: Canvases, language: str) -> None:
    """Fill the record's canvases, objects and notes: a canvas with an object number of its
    own (other than the manifest's) is an object of its own, the others are views of the
    manifest's object."""
    objects = {record.fields["object_number"]: ObjectRecord(record.fields)}
    seen: set[str] = set()
    for position, (canvas, annotations) in enumerate(canvases, start=1):
        canvas_id = doc_id(canvas) or f"{record.manifest_id}#canvas-{position}"
        if canvas_id in seen:
            continue
        seen.add(canvas_id)
        image = canvas_image(canvas, canvas_id, annotations, record.notes)
        if image is None:
            continue
        own = _own_fields(canvas, record.version, language)
        number = own.get("object_number") or record.fields["object_number"]
        if number not in objects:
            objects[number] = ObjectRecord({**record.fields, **own})
        objects[number].canvases.append(image)
        record.canvases.append(image)
    record.objects = [o for o in objects.values() if o.canvases]


def _own_fields(canvas: dict, version: int, language: str) -> dict[str, str]:
    """The fields a canvas gives of its own ("metadata anywhere"), only when it names an
    object number: without one it is a view of the manifest's object."""
    own = metadata_fields(canvas, language)
    if not own.get("object_number"):
        return {}
    own.pop("museum", None)  # the object stays in the manifest's (or the user's) museum
    own["title"] = text(canvas.get("label"), language) or own.get("title", "")
    own["description"] = text(
        canvas.get("summary" if version == 3 else "description"), language
    ) or own.get("description", "")
    own["license"] = license_of(canvas, version, language)
    own["source_url"] = _page_of(canvas, version)
    return {name: value for name, value in own.items() if value}


def _page_of(canvas: dict, version: int) -> str:
    """The object's web page: homepage (3.0) or related (2.1), else seeAlso."""
    for key in ("homepage" if version == 3 else "related", "seeAlso"):
        for entry in as_list(canvas.get(key)):
            url = doc_id(entry) if isinstance(entry, dict) else str(entry)
            if urlsplit(url).scheme in ("http", "https") and len(url) <= 1000:
                return url  # a web page, never a javascript: or data: link
    return ""


def _v3_canvases(doc: dict) -> Canvases:
    result = []
    for canvas in dicts(doc.get("items")):
        annotations = []
        for page in dicts(canvas.get("items")):
            for annotation in dicts(page.get("items")):
                if annotation.get("motivation") in ("painting", None):
                    annotations.append((annotation.get("body"), annotation.get("target")))
        result.append((canvas, annotations))
    return result


def _v2_canvases(doc: dict) -> Canvases:
    result = []
    for sequence in dicts(doc.get("sequences"))[:1]:  # the first sequence is the default
        for canvas in dicts(sequence.get("canvases")):
            annotations = [(a.get("resource"), a.get("on")) for a in dicts(canvas.get("images"))]
            result.append((canvas, annotations))
    return result
