"""IIIF Presentation 2.1 and 3.0 documents read into one shape, and Image API URLs at a
bounded size. No network here: the importer fetches, this module only reads JSON.

2.1 and 3.0 differ in spelling (``@id``/``id``, ``sequences[].canvases[].images[].resource``
/ ``items[].items[].items[].body``, strings / language maps), not in meaning.
"""

import hashlib
import html
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

BOUND = 1024  # the longest side asked of an Image API server
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


class IIIFError(ValueError):
    """A document that is not a usable IIIF manifest or collection."""


@dataclass(frozen=True)
class CanvasImage:
    canvas_id: str
    url: str  # the painting annotation body's own URL ("" when it has none)
    service_id: str = ""
    service_version: int = 0  # Image API 1, 2 or 3; 0 without a service


@dataclass
class ManifestRecord:
    manifest_id: str
    version: int
    fields: dict[str, str]
    canvases: list[CanvasImage] = field(default_factory=list)


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
    """The Item fields and the painted images of one manifest; IIIFError when it has no id
    or no canvases."""
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
    canvases = _canvases(doc, version, manifest_id)
    if not canvases:
        raise IIIFError("the manifest has no canvases (its items/sequences are empty or missing)")
    return ManifestRecord(manifest_id, version, fields, canvases)


def image_request_url(image: CanvasImage, info: dict | None = None) -> str:
    """The image at a bounded size through its Image API service: the whole image when it
    is no larger than BOUND (`max` in 3.0, `full` before), else scaled down; the body's own
    URL when there is no service."""
    if not image.service_id:
        return image.url
    base = image.service_id.rstrip("/")
    bound = _server_bound(info)
    small = _fits(info, bound)
    if image.service_version >= 3:
        size = "max" if small else f"!{bound},{bound}"
        return f"{base}/full/{size}/0/default.jpg"
    quality = "native" if image.service_version == 1 else "default"
    size = "full" if small else f"{bound},"
    return f"{base}/full/{size}/0/{quality}.jpg"


def info_url(image: CanvasImage) -> str:
    return f"{image.service_id.rstrip('/')}/info.json"


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
    fields: dict[str, str] = {}
    for entry in doc.get("metadata") or []:
        if not isinstance(entry, dict):
            continue
        name = _field_for_label(entry.get("label"))
        value = text(entry.get("value"), language)
        if name and value and not fields.get(name):
            fields[name] = value
    fields["title"] = text(doc.get("label"), language) or fields.get("title", "")
    summary = text(doc.get("summary" if version == 3 else "description"), language)
    fields["description"] = summary or fields.get("description", "")
    fields["license"] = _license(doc, version, language)
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


# --- canvases and images ----------------------------------------------------------------


def _canvases(doc: dict, version: int, manifest_id: str) -> list[CanvasImage]:
    canvases = _v3_canvases(doc) if version == 3 else _v2_canvases(doc)
    found, seen = [], set()
    for position, (canvas, bodies) in enumerate(canvases, start=1):
        canvas_id = doc_id(canvas) or f"{manifest_id}#canvas-{position}"
        image = next((i for i in (_image_of(b, canvas_id) for b in bodies) if i), None)
        if image is not None and canvas_id not in seen:
            seen.add(canvas_id)
            found.append(image)
    return found


def _v3_canvases(doc: dict) -> list[tuple[dict, list]]:
    result = []
    for canvas in _dicts(doc.get("items")):
        bodies = []
        for page in _dicts(canvas.get("items")):
            for annotation in _dicts(page.get("items")):
                if annotation.get("motivation") in ("painting", None):
                    bodies.extend(_bodies(annotation.get("body")))
        result.append((canvas, bodies))
    return result


def _v2_canvases(doc: dict) -> list[tuple[dict, list]]:
    result = []
    for sequence in _dicts(doc.get("sequences"))[:1]:  # the first sequence is the default
        for canvas in _dicts(sequence.get("canvases")):
            bodies = []
            for annotation in _dicts(canvas.get("images")):
                bodies.extend(_bodies(annotation.get("resource")))
            result.append((canvas, bodies))
    return result


def _bodies(body) -> list[dict]:
    """A body, a list of bodies, or a Choice (3.0) / oa:Choice (2.1): the first option."""
    if isinstance(body, list):
        return [b for item in body for b in _bodies(item)]
    if not isinstance(body, dict):
        return []
    kind = str(body.get("type") or body.get("@type") or "")
    if kind.endswith("Choice"):
        options = body.get("items") or [body.get("default"), *(body.get("item") or [])]
        return _bodies([o for o in options if o][:1])
    return [body]


def _image_of(body: dict, canvas_id: str) -> CanvasImage | None:
    service = _image_service(body.get("service"))
    url = doc_id(body)
    if service is None and not url:
        return None
    service_id, service_version = service or ("", 0)
    return CanvasImage(canvas_id, url, service_id, service_version)


def _image_service(services) -> tuple[str, int] | None:
    for service in _dicts(services if isinstance(services, list) else [services]):
        version = _service_version(service)
        if version and doc_id(service):
            return doc_id(service), version
    return None


def _service_version(service: dict) -> int:
    kind = str(service.get("type") or service.get("@type") or "")
    if kind.startswith("ImageService"):
        return int(kind[-1]) if kind[-1] in "123" else 0
    context = " ".join(
        str(part) for part in (service.get("@context"), service.get("profile")) if part
    )
    for version in (3, 2, 1):
        if f"image/{version}" in context:
            return version
    return 0


def _dicts(values) -> list[dict]:
    return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []


# --- info.json --------------------------------------------------------------------------


def _server_bound(info: dict | None) -> int:
    """BOUND, or less when the server says it serves nothing wider or taller."""
    limits = [BOUND]
    for key in ("maxWidth", "maxHeight"):
        value = (info or {}).get(key)
        if isinstance(value, int) and value > 0:
            limits.append(value)
    return min(limits)


def _fits(info: dict | None, bound: int) -> bool:
    width, height = (info or {}).get("width"), (info or {}).get("height")
    if not (isinstance(width, int) and isinstance(height, int)):
        return False
    return 0 < width <= bound and 0 < height <= bound
