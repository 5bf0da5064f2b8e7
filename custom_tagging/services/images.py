"""Images added through the API (stored with their features in one transaction) and looked up."""

from custom_tagging import exceptions as errors
from custom_tagging.services.features import upload_decode
from muses.collection import services as collection
from muses.collection.models import Image
from muses.vision.store import (
    image_features_store,
)


def image_add(*, data: bytes, name: str = "", image_id: str | None = None) -> Image:
    """Store an upload and its features in one transaction, or nothing at all."""
    if image_id is not None:
        _validate_image_id(image_id)
    decoded, vector, backbone = upload_decode(data=data, name=name)
    try:
        return collection.image_store(
            data=data,
            name=name,
            image_id=image_id,
            decoded=decoded,
            then=lambda image: image_features_store(image, backbone, vector),
        )
    except collection.ImageIdTaken as exc:
        raise errors.ImageIdTaken(f"{exc}; nothing was overwritten.")
    except collection.ImageIdError as exc:
        raise errors.InvalidImageId(str(exc))


def _validate_image_id(image_id: str) -> None:
    try:
        collection.image_id_validate(image_id)
    except collection.ImageIdError as exc:
        raise errors.InvalidImageId(str(exc))
