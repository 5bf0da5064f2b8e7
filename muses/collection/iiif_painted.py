"""What a IIIF canvas paints: the image (its Image API service, its selected region and
rotation), the largest when it paints several; audio, video, text and others are noted."""

import re
from dataclasses import dataclass

from muses.collection.iiif_json import IIIFError, as_list, dicts, doc_id, int_of, kind_of

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


@dataclass(frozen=True)
class _Painted:
    resource: dict
    region: str = ""
    rotation: str = ""


def canvas_image(canvas: dict, canvas_id: str, annotations, notes: list[str]) -> CanvasImage | None:
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
    kind = kind_of(body)
    if kind.endswith("Choice"):
        return _choice(body, canvas_id, notes)
    if kind.endswith("SpecificResource"):
        return _specific(body)
    return [_Painted(body)]


def _choice(body: dict, canvas_id: str, notes: list[str]) -> list[_Painted]:
    options = [o for o in [body.get("default"), *as_list(body.get("item") or body.get("items"))]]
    options = [o for o in options if isinstance(o, dict)]
    if len(options) > 1:
        others = ", ".join(doc_id(o) or kind_of(o) or "?" for o in options[1:])
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
    inner = (
        _specific(source) if kind_of(source).endswith("SpecificResource") else [_Painted(source)]
    )
    return [_Painted(p.resource, region or p.region, rotation or p.rotation) for p in inner]


def selection(selectors) -> tuple[str, str]:
    """(region, rotation) in Image API syntax from ImageApiSelectors and xywh
    FragmentSelectors; IIIFError for a selection that is not understood."""
    region, rotation = "", ""
    for selector in as_list(selectors):
        if not isinstance(selector, dict):
            continue
        kind = kind_of(selector)
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
    kind = kind_of(resource).split(":")[-1].lower()
    return MEDIA_KINDS.get(kind, "image")  # untyped resources are tried as images


def _target_area(target, canvas: dict) -> float:
    """The area a painting annotation covers on its canvas: its xywh, else the canvas."""
    fragment = ""
    if isinstance(target, str):
        fragment = target.partition("#")[2]
    elif isinstance(target, dict):
        selectors = as_list(target.get("selector"))
        fragment = next((str(s.get("value")) for s in dicts(selectors) if "value" in s), "")
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
        width=int_of(body.get("width")),
        height=int_of(body.get("height")),
    )


def _image_service(services) -> tuple[str, int, int] | None:
    for service in dicts(as_list(services)):
        version = _service_version(service)
        if version and doc_id(service):
            return doc_id(service), version, service_level(service.get("profile"))
    return None


def _service_version(service: dict) -> int:
    kind = kind_of(service)
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
    for entry in as_list(profile):
        if isinstance(entry, str) and (match := LEVEL_RE.search(entry)):
            return int(match[1])
    return -1
