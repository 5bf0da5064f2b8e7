"""Workflows on items and images: storing an image safely, once."""

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from muses.collection.decode import DecodedImage, decode_image
from muses.collection.media import local_path, save_content_addressed
from muses.collection.models import IMAGE_ID_RE, Image, Item, new_image_id

EXTENSIONS = {
    "JPEG": "jpg",
    "PNG": "png",
    "GIF": "gif",
    "WEBP": "webp",
    "TIFF": "tif",
    "BMP": "bmp",
}


class ImageIdError(ValueError):
    """An image_id that breaks the rules (letters, digits, '-' and '_', at most 64)."""


class ImageIdTaken(ValueError):
    """An image_id already in use: nothing is overwritten."""


def image_id_validate(image_id: str) -> str:
    if not IMAGE_ID_RE.match(image_id):
        raise ImageIdError(
            f"image_id {image_id!r} is invalid: use 1-64 letters, digits, '-' or '_'"
        )
    return image_id


def image_store(
    *,
    data: bytes,
    name: str = "",
    image_id: str | None = None,
    item: Item | None = None,
    decoded: DecodedImage | None = None,
    then: Callable[[Image], object] | None = None,
) -> Image:
    """Decode (unless the caller already did), write the file atomically and create the
    row; raises ImageDecodeError, ImageIdError or ImageIdTaken, leaving nothing behind.

    ``then(image)`` runs inside the row's transaction (e.g. storing its features), so the
    row and what ``then`` writes are committed together or not at all."""
    image_id = image_id_validate(image_id) if image_id else new_image_id()
    decoded = decoded or decode_image(data, name=name or image_id)
    sha256 = hashlib.sha256(data).hexdigest()
    relative, created_file = _write_content_addressed(data, sha256, decoded.format)
    try:
        # No look-up first: the unique image_id is checked by the insert itself.
        with transaction.atomic():
            image = Image.objects.create(
                image_id=image_id,
                item=item,
                file=relative,
                sha256=sha256,
                width=decoded.width,
                height=decoded.height,
                format=decoded.format,
                original_name=Path(name).name[:300],
            )
            if then is not None:
                then(image)
            return image
    except IntegrityError:
        _remove_if_orphan(relative, created_file)
        if Image.objects.filter(image_id=image_id).exists():
            raise ImageIdTaken(f"image_id {image_id!r} is already used") from None
        raise
    except BaseException:
        _remove_if_orphan(relative, created_file)
        raise


def content_path(sha256: str, fmt: str) -> str:
    ext = EXTENSIONS.get(fmt, "img")
    return f"images/{sha256[:2]}/{sha256[2:4]}/{sha256}.{ext}"


def _write_content_addressed(data: bytes, sha256: str, fmt: str) -> tuple[str, bool]:
    """Store the bytes once under their hash; (name, whether this call wrote the file)."""
    relative = content_path(sha256, fmt)
    target = local_path(relative)
    if target is None:
        return relative, save_content_addressed(relative, data)
    return relative, _write_local(data, target)


def _write_local(data: bytes, target: Path) -> bool:
    """Write under a temporary name and rename, so a crash never leaves half a file."""
    if target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def _remove_if_orphan(relative: str, created_file: bool) -> None:
    if created_file and not Image.objects.filter(file=relative).exists():
        default_storage.delete(relative)
