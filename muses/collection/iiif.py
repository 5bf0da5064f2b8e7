"""IIIF Presentation 2.1 and 3.0 documents read into one shape: the objects a manifest
shows, and the image (with its selection) each canvas paints. No network here: the
importer fetches, this module only reads JSON; iiif_image builds the Image API requests.

2.1 and 3.0 differ in spelling (``@id``/``id``, ``sequences[].canvases[].images[].resource``
/ ``items[].items[].items[].body``, strings / language maps), not in meaning.
"""

import hashlib
import html
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

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
_NUMBER = r"\d+(?:\.\d+)?"
REGION_RE = re.compile(rf"\A(?:pct:)?{_NUMBER}(?:,{_NUMBER}){{3}}\Z")
ROTATION_RE = re.compile(rf"\A!?{_NUMBER}\Z")
XYWH_RE = re.compile(rf"xywh=(?:pixel:|percent:)?({_NUMBER}),({_NUMBER}),({_NUMBER}),({_NUMBER})")
LEVEL_RE = re.compile(r"level([012])(?:\.json)?\Z")
# Painted resource types that are not images (2.1 dctypes: and 3.0 names, lower case).
MEDIA_KINDS = {
    "sound": "audio",
    "audio": "audio",
    "video": "video",
    "movingimage": "video",
    "text": "text",
    "textualbody": "text",
    "contentastext": "text",
    "model": "3D model",
    "dataset": "data",
}


class IIIFError(ValueError):
    """A document that is not a usable IIIF manifest or collection."""


@dataclass(frozen=True)
class CanvasImage:
    canvas_id: str
    url: str  # the painted resource's own URL ("" when it has none)
    service_id: str = ""
    service_version: int = 0  # Image API 1, 2 or 3; 0 without a service
    service_level: int = -1  # compliance level the manifest's profile names; -1 unsaid
    # A SpecificResource's selection, in Image API syntax: region "x,y,w,h", "pct:x,y,w,h"
    # or "square" ("" the whole image), rotation "90", "!0" ("" none).
    region: str = ""
    rotation: str = ""
    width: int = 0  # the resource's declared size, to place a region on a scaled fetch
    height: int = 0


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


def doc_id(doc: dict) -> str:
    return str(doc.get("id") or doc.get("@id") or "")


def doc_version(doc: dict) -> int:
    """3 or 2, from the @context or, failing that, the spelling of the keys."""
    context = doc.get("@context") or ""
    contexts = " ".join(context if isinstance(context, list) else [str(context)])
    if "presentation/3" in contexts:
        return 3
    if "presentation/2" in contexts:
        return 2
    return 2 if "@id" in doc or "@type" in doc else 3


def doc_kind(doc: dict) -> str:
    """'Manifest', 'Collection' or '' for anything else."""
    kind = str(doc.get("type") or doc.get("@type") or "")
    kind = kind.split(":")[-1]  # sc:Manifest -> Manifest
    return kind if kind in ("Manifest", "Collection") else ""


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
    fields = _fields(doc, version, language)
    fields["museum"] = (
        museum or fields.get("museum") or _provider(doc, language) or _host(manifest_id)
    )
    fields["source_url"] = manifest_id if len(manifest_id) <= 1000 else ""
    fields["object_number"] = fields.get("object_number") or _number_from_id(manifest_id)
    fields["language"] = language
    canvases = _v3_canvases(doc) if version == 3 else _v2_canvases(doc)
    if not canvases:
        raise IIIFError("the manifest has no canvases (its items/sequences are empty or missing)")
    record = ManifestRecord(manifest_id, version, fields)
    _read_canvases(record, canvases, language)
    return record


# --- fields ---------------------------------------------------------------------------


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


def _fields(doc: dict, version: int, language: str) -> dict[str, str]:
    fields = _metadata_fields(doc, language)
    fields["title"] = text(doc.get("label"), language) or fields.get("title", "")
    summary = text(doc.get("summary" if version == 3 else "description"), language)
    fields["description"] = summary or fields.get("description", "")
    fields["license"] = _license(doc, version, language)
    return fields


def _metadata_fields(doc: dict, language: str) -> dict[str, str]:
    """Item fields from a manifest's or a canvas's metadata, the first of each kept."""
    fields: dict[str, str] = {}
    for entry in _dicts(doc.get("metadata")):
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


def _license(doc: dict, version: int, language: str) -> str:
    """Rights (a URI) and the required attribution statement, both kept."""
    if version == 3:
        rights = text(doc.get("rights"))
        statement = doc.get("requiredStatement") or {}
        attribution = text(statement.get("value"), language) if isinstance(statement, dict) else ""
    else:
        rights = text(doc.get("license"), language)
        attribution = text(doc.get("attribution"), language)
    return " — ".join(part for part in (rights, attribution) if part)


def _provider(doc: dict, language: str) -> str:
    providers = doc.get("provider") or []
    if isinstance(providers, list) and providers and isinstance(providers[0], dict):
        return text(providers[0].get("label"), language)
    return ""


def _host(url: str) -> str:
    return urlsplit(url).hostname or "iiif"


def _number_from_id(manifest_id: str) -> str:
    """The manifest id is the key when there is no object number; a digest of it when it
    is longer than an object number may be."""
    if len(manifest_id) <= MAX_OBJECT_NUMBER:
        return manifest_id
    return f"iiif-{hashlib.sha256(manifest_id.encode()).hexdigest()[:32]}"


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
        image = _canvas_image(canvas, canvas_id, annotations, record.notes)
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
    own = _metadata_fields(canvas, language)
    if not own.get("object_number"):
        return {}
    own.pop("museum", None)  # the object stays in the manifest's (or the user's) museum
    own["title"] = text(canvas.get("label"), language) or own.get("title", "")
    own["description"] = text(
        canvas.get("summary" if version == 3 else "description"), language
    ) or own.get("description", "")
    own["license"] = _license(canvas, version, language)
    own["source_url"] = _page_of(canvas, version)
    return {name: value for name, value in own.items() if value}


def _page_of(canvas: dict, version: int) -> str:
    """The object's web page: homepage (3.0) or related (2.1), else seeAlso."""
    for key in ("homepage" if version == 3 else "related", "seeAlso"):
        for entry in _as_list(canvas.get(key)):
            url = doc_id(entry) if isinstance(entry, dict) else str(entry)
            if urlsplit(url).scheme in ("http", "https") and len(url) <= 1000:
                return url  # a web page, never a javascript: or data: link
    return ""


def _v3_canvases(doc: dict) -> Canvases:
    result = []
    for canvas in _dicts(doc.get("items")):
        annotations = []
        for page in _dicts(canvas.get("items")):
            for annotation in _dicts(page.get("items")):
                if annotation.get("motivation") in ("painting", None):
                    annotations.append((annotation.get("body"), annotation.get("target")))
        result.append((canvas, annotations))
    return result


def _v2_canvases(doc: dict) -> Canvases:
    result = []
    for sequence in _dicts(doc.get("sequences"))[:1]:  # the first sequence is the default
        for canvas in _dicts(sequence.get("canvases")):
            annotations = [(a.get("resource"), a.get("on")) for a in _dicts(canvas.get("images"))]
            result.append((canvas, annotations))
    return result


# --- what a canvas paints --------------------------------------------------------------


@dataclass(frozen=True)
class _Painted:
    resource: dict
    region: str = ""
    rotation: str = ""


def _canvas_image(
    canvas: dict, canvas_id: str, annotations, notes: list[str]
) -> CanvasImage | None:
    """The image a canvas paints (the largest, when it paints several), or None with a note
    saying why not."""
    painted, others = [], []
    try:
        for body, target in annotations:
            for resource in _resources(body, canvas_id, notes):
                kind = _media_kind(resource.resource)
                image = _image_of(resource, canvas_id) if kind == "image" else None
                if image is not None:
                    painted.append((image, _target_area(target, canvas)))
                else:
                    others.append(kind)
    except IIIFError as exc:
        notes.append(f"canvas {canvas_id}: skipped: {exc}")
        return None
    if not painted:
        notes.append(f"canvas {canvas_id}: skipped: {_nothing_painted(others)}")
        return None
    image, _ = max(painted, key=lambda entry: entry[1])  # the first of equal ones
    if len(painted) > 1:
        notes.append(
            f"canvas {canvas_id}: paints {len(painted)} images; the largest on the canvas "
            f"({image.url or image.service_id}) is imported"
        )
    return image


def _nothing_painted(kinds: list[str]) -> str:
    shown = sorted({kind for kind in kinds if kind != "image"})
    if shown:
        return f"it paints {' and '.join(shown)}, not an image (MUSES imports images only)"
    return "it paints no image"


def _resources(body, canvas_id: str, notes: list[str]) -> list[_Painted]:
    """The painted resources of a body, a list of bodies, a Choice (3.0) / oa:Choice (2.1):
    its default or first option, the others noted, or a SpecificResource: its source with
    the selector's region and rotation."""
    if isinstance(body, list):
        return [r for item in body for r in _resources(item, canvas_id, notes)]
    if not isinstance(body, dict):
        return []
    kind = _kind(body)
    if kind.endswith("Choice"):
        return _choice(body, canvas_id, notes)
    if kind.endswith("SpecificResource"):
        return _specific(body)
    return [_Painted(body)]


def _choice(body: dict, canvas_id: str, notes: list[str]) -> list[_Painted]:
    options = [o for o in [body.get("default"), *_as_list(body.get("item") or body.get("items"))]]
    options = [o for o in options if isinstance(o, dict)]
    if len(options) > 1:
        others = ", ".join(doc_id(o) or _kind(o) or "?" for o in options[1:])
        notes.append(
            f"canvas {canvas_id}: a Choice of {len(options)} resources; the first "
            f"({doc_id(options[0])}) is imported, not {others}"
        )
    return [r for o in options[:1] for r in _resources(o, canvas_id, notes)]


def _specific(body: dict) -> list[_Painted]:
    source = body.get("source")
    if isinstance(source, str):
        source = {"id": source, "type": "Image"}
    if not isinstance(source, dict):
        raise IIIFError("a SpecificResource without a source")
    region, rotation = selection(body.get("selector"))
    inner = _specific(source) if _kind(source).endswith("SpecificResource") else [_Painted(source)]
    return [_Painted(p.resource, region or p.region, rotation or p.rotation) for p in inner]


def selection(selectors) -> tuple[str, str]:
    """(region, rotation) in Image API syntax from ImageApiSelectors and xywh
    FragmentSelectors; IIIFError for a selection that is not understood."""
    region, rotation = "", ""
    for selector in _as_list(selectors):
        if not isinstance(selector, dict):
            continue
        kind = _kind(selector)
        if kind.endswith("ImageApiSelector"):
            region = _region(str(selector.get("region") or "")) or region
            rotation = _rotation(str(selector.get("rotation") or "")) or rotation
        elif kind.endswith("FragmentSelector") or "xywh=" in str(selector.get("value", "")):
            region = _region(_xywh(str(selector.get("value") or ""))) or region
    return region, rotation


def _xywh(value: str) -> str:
    """A media fragment xywh=[pixel:|percent:]x,y,w,h as an Image API region."""
    if not value.startswith("xywh="):
        raise IIIFError(f"the fragment selector {value!r} is not an xywh region")
    value = value.removeprefix("xywh=").removeprefix("pixel:")
    return f"pct:{value.removeprefix('percent:')}" if value.startswith("percent:") else value


def _region(region: str) -> str:
    if region in ("", "full"):
        return ""
    if region == "square" or REGION_RE.match(region):
        return region
    raise IIIFError(f"the selected region {region!r} is not x,y,w,h, pct:x,y,w,h or square")


def _rotation(rotation: str) -> str:
    if rotation in ("", "0"):
        return ""
    if ROTATION_RE.match(rotation):
        return rotation
    raise IIIFError(f"the selected rotation {rotation!r} is not a number of degrees")


def _media_kind(resource: dict) -> str:
    """image, audio, video, text, a 3D model, ... from the format or the type."""
    media = str(resource.get("format") or "").split("/")[0].lower()
    if media in ("image", "audio", "video", "text", "model"):
        return "3D model" if media == "model" else media
    kind = _kind(resource).split(":")[-1].lower()
    return MEDIA_KINDS.get(kind, "image")  # untyped resources are tried as images


def _target_area(target, canvas: dict) -> float:
    """The area a painting annotation covers on its canvas: its xywh, else the canvas."""
    fragment = ""
    if isinstance(target, str):
        fragment = target.partition("#")[2]
    elif isinstance(target, dict):
        selectors = _as_list(target.get("selector"))
        fragment = next((str(s.get("value")) for s in _dicts(selectors) if "value" in s), "")
    match = XYWH_RE.search(fragment)
    if match:
        return float(match[3]) * float(match[4])
    width, height = canvas.get("width"), canvas.get("height")
    if isinstance(width, (int, float)) and isinstance(height, (int, float)):
        return float(width) * float(height)
    return float("inf")


def _image_of(painted: _Painted, canvas_id: str) -> CanvasImage | None:
    body = painted.resource
    service = _image_service(body.get("service"))
    url = doc_id(body)
    if service is None and not url:
        return None
    service_id, service_version, level = service or ("", 0, -1)
    return CanvasImage(
        canvas_id,
        url,
        service_id,
        service_version,
        level,
        region=painted.region,
        rotation=painted.rotation,
        width=_int(body.get("width")),
        height=_int(body.get("height")),
    )


def _image_service(services) -> tuple[str, int, int] | None:
    for service in _dicts(_as_list(services)):
        version = _service_version(service)
        if version and doc_id(service):
            return doc_id(service), version, service_level(service.get("profile"))
    return None


def _service_version(service: dict) -> int:
    kind = _kind(service)
    if kind.startswith("ImageService"):
        return int(kind[-1]) if kind[-1] in "123" else 0
    context = " ".join(
        str(part) for part in (service.get("@context"), service.get("profile")) if part
    )
    for version in (3, 2, 1):
        if f"image/{version}" in context:
            return version
    return 0


def service_level(profile) -> int:
    """0, 1 or 2 from a profile ("level1", ".../level2.json", or a 2.1 list of a URI and
    an object); -1 when it names none."""
    for entry in _as_list(profile):
        if isinstance(entry, str) and (match := LEVEL_RE.search(entry)):
            return int(match[1])
    return -1


def _kind(doc: dict) -> str:
    return str(doc.get("type") or doc.get("@type") or "")


def _int(value) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _dicts(values) -> list[dict]:
    return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []
