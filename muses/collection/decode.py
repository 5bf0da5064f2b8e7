"""The one image decoder every path uses: import, upload, export, training."""

import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from PIL import ExifTags, ImageOps, UnidentifiedImageError
from PIL import Image as PILImage


class ImageDecodeError(ValueError):
    """An image that cannot be used; the message names the file or upload."""


@dataclass(frozen=True)
class DecodedImage:
    image: PILImage.Image  # RGB, EXIF orientation applied; maybe reduced, see min_side
    format: str  # "JPEG", "PNG", ...
    width: int  # of the file, upright
    height: int


def decode_image(
    source: bytes | Path | str, *, name: str = "", min_side: int | None = None
) -> DecodedImage:
    """Decode bytes or a path into an upright RGB image, or raise ImageDecodeError.

    With ``min_side``, a large JPEG is decoded at 1/2, 1/4 or 1/8 scale in the DCT domain
    (never below min_side pixels on its short side): decoding and preprocessing a
    4000x3000 photo for a 224 px network takes about a twelfth of the time of a full-size
    decode (bench/decode_large.py). width/height still give the file's size."""
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
        size = image.size
        image.seek(0)  # animated GIF/WebP/APNG: the first frame
        if min_side and fmt == "JPEG":
            image.draft(image.mode, _draft_size(size, min_side))
        image.load()
        width, height = _upright(size, image)
        image = ImageOps.exif_transpose(image)
    except ImageDecodeError:
        raise  # already says what is wrong (too many pixels), not "corrupt"
    except PILImage.DecompressionBombError as exc:
        # Pillow's own limit (about 179 Mpx) answered before ours could: say ours.
        raise ImageDecodeError(
            f"{label}: the image has too many pixels ({exc}); the limit is "
            f"{settings.MUSES_MAX_IMAGE_PIXELS:,} (MUSES_MAX_IMAGE_PIXELS); refusing to decode "
            "it (possible decompression bomb)"
        ) from None
    except UnidentifiedImageError:
        raise ImageDecodeError(f"{label}: not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageDecodeError(f"{label}: truncated or corrupt image ({exc})") from None
    return DecodedImage(image=to_rgb(image), format=fmt, width=width, height=height)


def _draft_size(size: tuple[int, int], min_side: int) -> tuple[int, int]:
    """The smallest size JPEG scaling may go down to: short side >= min_side."""
    scale = min_side / min(size)
    return (math.ceil(size[0] * scale), math.ceil(size[1] * scale))


def _upright(size: tuple[int, int], image: PILImage.Image) -> tuple[int, int]:
    """The file's size as it will be shown: EXIF orientations 5-8 turn it by 90 degrees."""
    turned = image.getexif().get(ExifTags.Base.Orientation, 1) in (5, 6, 7, 8)
    return (size[1], size[0]) if turned else size


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
            f"{label}: the image has too many pixels ({size[0]}x{size[1]}, limit {limit:,}, "
            "MUSES_MAX_IMAGE_PIXELS); "
            "refusing to decode it (possible decompression bomb)"
        )
