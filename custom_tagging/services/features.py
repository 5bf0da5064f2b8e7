"""The backbone and stored feature vectors: uploads run through it, stored images looked up in
the shared index.
"""

import numpy as np
from django.conf import settings
from django.db.models import QuerySet

from custom_tagging import exceptions as errors
from muses.collection.decode import DecodedImage, ImageDecodeError
from muses.collection.models import Image
from muses.vision.backbones import Backbone, BackboneUnavailable, get_backbone
from muses.vision.feature_index.errors import IndexUnavailable
from muses.vision.feature_index.handle import FeatureIndex
from muses.vision.store import (
    compatible_features,
    extraction_announced,
    features_of_pixels,
    image_features_compute,
)


def backbone_get() -> Backbone:
    try:
        return get_backbone()
    except BackboneUnavailable as exc:
        raise errors.BackboneNotReady(str(exc))


def upload_features_compute(*, data: bytes, name: str = "") -> tuple[np.ndarray, Backbone]:
    """Decode an upload and run it through the backbone (batched with concurrent calls)."""
    _, vector, backbone = upload_decode(data=data, name=name)
    return vector, backbone


def upload_decode(*, data: bytes, name: str) -> tuple[DecodedImage, np.ndarray, Backbone]:
    """(decoded image, its features, the backbone) of an upload; 400 if it is no image."""
    backbone = backbone_get()
    with extraction_announced(backbone):
        try:
            decoded = backbone.decode(data, name=name or "upload")
        except ImageDecodeError as exc:
            raise errors.InvalidImage(str(exc))
        return decoded, features_of_pixels(backbone.preprocess(decoded.image), backbone), backbone


def vectors_lookup(
    *, index: FeatureIndex, image_ids: "list[str] | QuerySet"
) -> tuple[list[str], np.ndarray]:
    """Stored vectors of these image ids (or of a queryset's images, by one join), by index
    look-up (cost O(ids)); 503 while the machine's index is being rebuilt."""
    try:
        return index.vectors_of(image_ids)
    except IndexUnavailable as exc:
        raise errors.FeaturesUnavailable(str(exc))


def image_features_get(*, image: Image) -> np.ndarray:
    """The image's stored vector; computed once for an imported image that has none."""
    row = compatible_features(settings.MUSES_BACKBONE).filter(image=image).first()
    if row is not None:
        return row.as_array()
    try:
        return image_features_compute(image=image, backbone=backbone_get())
    except ImageDecodeError as exc:
        raise errors.InvalidImage(str(exc))
