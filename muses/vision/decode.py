"""The one image decoder every path uses: import, upload, export, training."""

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError


class ImageDecodeError(ValueError):
    """An image that cannot be used; the message names the file or upload."""


@dataclass(frozen=True)
class DecodedImage:
    image: PILImage.Image  # RGB, EXIF orientation applied
    format: str  # "JPEG", "PNG", ...
    width: int
    height: int


def decode_image(source: bytes | Path | str, *, name: str = "") -> DecodedImage:
    """Decode bytes or a path into an upright RGB image, or raise ImageDecodeError."""
    label = name or str(source if not isinstance(source, bytes) else "upload")
    data = _read_bytes(source, label)
    if not data:
        raise ImageDecodeError(f"{label}: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            image = PILImage.open(io.BytesIO(data))
        _check_pixels(image.size, label)
        fmt = image.format or "UNKNOWN"
        image.seek(0)  # animated GIF/WebP/APNG: the first frame
        image.load()
        image = ImageOps.exif_transpose(image)
    except PILImage.DecompressionBombError as exc:
        raise ImageDecodeError(f"{label}: {exc} (possible decompression bomb)") from None
    except UnidentifiedImageError:
        raise ImageDecodeError(f"{label}: not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageDecodeError(f"{label}: truncated or corrupt image ({exc})") from None
    rgb = to_rgb(image)
    return DecodedImage(image=rgb, format=fmt, width=rgb.width, height=rgb.height)


def to_rgb(image: PILImage.Image) -> PILImage.Image:
    """Any mode (P, LA, RGBA, CMYK, I;16, L, ...) to 8-bit RGB; alpha over white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale to 8 bits rather than clip.
        array = np.asarray(image, dtype=np.float64)
        peak = array.max() or 1.0
        scaled = (array / peak * 255.0).clip(0, 255).astype("uint8")
        return PILImage.fromarray(scaled, mode="L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = PILImage.new("RGB", image.size, (255, 255, 255))
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").split()[-1])
        return background
    return image.convert("RGB")


def _read_bytes(source: bytes | Path | str, label: str) -> bytes:
    if isinstance(source, bytes):
        return source
    try:
        return Path(source).read_bytes()
    except FileNotFoundError:
        raise ImageDecodeError(f"{label}: file not found") from None
    except OSError as exc:
        raise ImageDecodeError(f"{label}: cannot read file ({exc.strerror})") from None


def _check_pixels(size: tuple[int, int], label: str) -> None:
    limit = settings.MUSES_MAX_IMAGE_PIXELS
    if size[0] * size[1] > limit:
        raise ImageDecodeError(
            f"{label}: the image has too many pixels ({size[0]}x{size[1]}, limit {limit:,}); "
            "refusing to decode it (possible decompression bomb)"
        )
