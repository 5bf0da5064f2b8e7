"""Image API requests at a bounded size, and a SpecificResource's selection (region,
rotation, mirroring) applied either by the image server, when its compliance level or
info.json says it can, or to the fetched pixels here. No network in this module.

The server does the work where it can: it sends only the selected region, at full
resolution up to BOUND. Otherwise (no service, a level 0 server, or a feature it lacks)
the image is fetched whole at a bounded size and cut here, the region scaled by the ratio
of the fetched size to the full size the service (or the resource) declares.
"""

import io
import re

from PIL import Image as PILImage
from PIL import ImageOps

from muses.collection.iiif_painted import CanvasImage, service_level

BOUND = 1024  # the longest side asked of an Image API server
JPEG_QUALITY = 92  # a cut-out is encoded once more: keep it close to the fetched bytes
# The features each compliance level guarantees (Image API 2.1 and 3.0 agree on these).
LEVEL_FEATURES = {
    0: set(),
    1: {"regionByPx", "regionSquare", "sizeByW", "sizeByH", "sizeByWh"},
    2: {"regionByPx", "regionSquare", "regionByPct", "rotationBy90s", "sizeByWh"},
}
PCT_REGION = re.compile(r"pct:")


class SelectionError(ValueError):
    """A selection that cannot be applied to the fetched image (a region outside it)."""


def image_request_url(image: CanvasImage, info: dict | None = None) -> str:
    """The image at a bounded size through its Image API service, the server applying the
    selection where it can (see ``server_selects``); the resource's own URL without one."""
    if not image.service_id:
        return image.url
    base = image.service_id.rstrip("/")
    selects = server_selects(image, info)
    region = (image.region or "full") if selects else "full"
    rotation = (image.rotation or "0") if selects else "0"
    size = _size(image, info, region)
    quality = "native" if image.service_version == 1 else "default"
    return f"{base}/{region}/{size}/{rotation}/{quality}.jpg"


def published_body(image: CanvasImage, info: dict | None) -> dict | None:
    """The image as a painting body for a manifest MUSES writes: the service, for deep zoom,
    when the whole image is shown; the server's cut-out when it applies the selection; None
    (show MUSES' stored copy) when the selection was applied here."""
    if not image.service_id:
        return None if image.region or image.rotation else {"id": image.url, "type": "Image"}
    if image.region or image.rotation:
        if not server_selects(image, info):
            return None
        return {"id": image_request_url(image, info), "type": "Image", "format": "image/jpeg"}
    level = image.service_level if image.service_level >= 0 else 1
    service = _service_description(image.service_id, image.service_version, level)
    return {
        "id": image.url or image_request_url(image, info),
        "type": "Image",
        "format": "image/jpeg",
        "service": [service],
    }


def _service_description(service_id: str, version: int, level: int) -> dict:
    """A service as Presentation 3.0 says to name it: a v3 service by id, type and level;
    an older one as it describes itself (@id, @type, its profile URI), which v2 viewers read."""
    if version >= 3:
        return {"id": service_id, "type": "ImageService3", "profile": f"level{level}"}
    return {
        "@id": service_id,
        "@type": f"ImageService{version}",
        "profile": f"http://iiif.io/api/image/{version}/level{level}.json",
    }


def info_url(image: CanvasImage) -> str:
    return f"{image.service_id.rstrip('/')}/info.json"


def server_selects(image: CanvasImage, info: dict | None) -> bool:
    """Whether the image server can apply the whole selection (a 1.x server never asked)."""
    if not image.service_id or image.service_version < 2:
        return False
    needed = _needed_features(image)
    return needed <= _features(image, info)


def needs_local_selection(image: CanvasImage, info: dict | None) -> bool:
    return bool(image.region or image.rotation) and not server_selects(image, info)


def select_locally(
    picture: PILImage.Image, image: CanvasImage, info: dict | None
) -> PILImage.Image:
    """The selection applied to a fetched picture: the region (scaled from the full image's
    coordinates to the fetched size), then mirroring, then a clockwise rotation."""
    if image.region:
        picture = picture.crop(_box(image.region, picture.size, _full_size(image, info)))
    rotation = image.rotation
    if rotation.startswith("!"):
        picture = ImageOps.mirror(picture)
        rotation = rotation[1:]
    degrees = float(rotation or 0) % 360
    if degrees:
        # PIL turns counter-clockwise, the Image API clockwise; white shows around a tilt.
        picture = picture.rotate(-degrees, expand=True, fillcolor=(255, 255, 255))
    return picture


def encode_jpeg(picture: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


# --- what the server can do ---------------------------------------------------------------


def _needed_features(image: CanvasImage) -> set[str]:
    needed = set()
    if image.region == "square":
        needed.add("regionSquare")
    elif image.region:
        needed.add("regionByPct" if PCT_REGION.match(image.region) else "regionByPx")
    rotation = image.rotation.removeprefix("!")
    if image.rotation.startswith("!"):
        needed.add("mirroring")
    if rotation and float(rotation) % 360:
        needed.add("rotationBy90s" if float(rotation) % 90 == 0 else "rotationArbitrary")
    return needed


def _features(image: CanvasImage, info: dict | None) -> set[str]:
    """Features by the level info.json (else the manifest) names, plus those it lists. A
    service that names no level is taken at level 1, the common one."""
    level = _info_level(info)
    if level < 0:
        level = image.service_level if image.service_level >= 0 else 1
    features = set(LEVEL_FEATURES[level])
    features.update(str(f) for f in (info or {}).get("extraFeatures") or [])
    for entry in _profile_entries(info):  # 2.1: [level URI, {"supports": [...]}]
        if isinstance(entry, dict):
            features.update(str(f) for f in entry.get("supports") or [])
    return features


def _info_level(info: dict | None) -> int:
    return service_level((info or {}).get("profile"))


def _profile_entries(info: dict | None) -> list:
    profile = (info or {}).get("profile")
    return profile if isinstance(profile, list) else [profile]


# --- sizes ------------------------------------------------------------------------------


def _size(image: CanvasImage, info: dict | None, region: str) -> str:
    """max/full when the (selected) image fits BOUND, else bounded; a level 0 server only
    serves the sizes its info.json lists."""
    bound = _server_bound(info)
    level = _info_level(info)
    level = level if level >= 0 else image.service_level
    whole = "max" if image.service_version >= 3 else "full"
    if level == 0:
        return _listed_size(info, bound, image.service_version) or whole
    if _fits(_region_size(region, info), bound):
        return whole
    if image.service_version >= 3 or region != "full":
        return f"!{bound},{bound}"
    return f"{bound},"


def _listed_size(info: dict | None, bound: int, version: int) -> str:
    listed = [s for s in (info or {}).get("sizes") or [] if isinstance(s, dict)]
    sizes = [(s.get("width"), s.get("height")) for s in listed]
    sizes = [(w, h) for w, h in sizes if isinstance(w, int) and isinstance(h, int)]
    fitting = [s for s in sizes if s[0] <= bound and s[1] <= bound]
    if not fitting:
        return ""
    width, height = max(fitting)
    return f"{width},{height}" if version >= 3 else f"{width},"


def _region_size(region: str, info: dict | None) -> tuple[int, int] | None:
    full = _declared(info)
    if region == "full":
        return full
    if region == "square":
        return (min(full), min(full)) if full else None
    if PCT_REGION.match(region):
        if not full:
            return None
        x, y, w, h = (float(v) for v in region[4:].split(","))
        return round(full[0] * w / 100), round(full[1] * h / 100)
    _, _, w, h = (float(v) for v in region.split(","))
    return round(w), round(h)


def _server_bound(info: dict | None) -> int:
    """BOUND, or less when the server says it serves nothing wider or taller."""
    limits = [BOUND]
    for key in ("maxWidth", "maxHeight"):
        value = (info or {}).get(key)
        if isinstance(value, int) and value > 0:
            limits.append(value)
    return min(limits)


def _fits(size: tuple[int, int] | None, bound: int) -> bool:
    return bool(size) and 0 < size[0] <= bound and 0 < size[1] <= bound


def _declared(info: dict | None) -> tuple[int, int] | None:
    width, height = (info or {}).get("width"), (info or {}).get("height")
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return width, height
    return None


# --- cutting here -------------------------------------------------------------------------


def _full_size(image: CanvasImage, info: dict | None) -> tuple[int, int] | None:
    """The size the region's pixel coordinates refer to: the service's, else the
    resource's declared size; None (the fetched picture is the full image) otherwise."""
    if image.service_id and (declared := _declared(info)):
        return declared
    if image.width and image.height:
        return image.width, image.height
    return None


def _box(
    region: str, fetched: tuple[int, int], full: tuple[int, int] | None
) -> tuple[int, int, int, int]:
    width, height = fetched
    if region == "square":
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        return left, top, left + side, top + side
    if PCT_REGION.match(region):
        x, y, w, h = (float(v) / 100 for v in region[4:].split(","))
        box = (x * width, y * height, (x + w) * width, (y + h) * height)
    else:
        x, y, w, h = (float(v) for v in region.split(","))
        scale_x, scale_y = (width / full[0], height / full[1]) if full else (1.0, 1.0)
        box = (x * scale_x, y * scale_y, (x + w) * scale_x, (y + h) * scale_y)
    left, top = max(0, round(box[0])), max(0, round(box[1]))
    right, bottom = min(width, round(box[2])), min(height, round(box[3]))
    if right <= left or bottom <= top:
        raise SelectionError(f"the selected region {region} lies outside the image")
    return left, top, right, bottom
