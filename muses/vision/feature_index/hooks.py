"""The store's calls into the index: just-saved feature rows appended, a deleted one
tombstoned. Never fatal: the index is a cache the database can rebuild."""

import logging
from collections.abc import Iterable

import numpy as np

from muses.vision.feature_index.errors import IndexCorrupt, IndexMissing, IndexUnavailable
from muses.vision.feature_index.handle import feature_index
from muses.vision.models import ImageFeature

logger = logging.getLogger(__name__)


def index_append_features(rows: Iterable[ImageFeature]) -> int:
    """Append just-saved feature rows to their spaces' indexes (never fatal: the index
    is a cache the database can rebuild, and a request must not fail for it)."""
    by_space: dict[str, list[ImageFeature]] = {}
    for row in rows:
        if row.pk is not None:
            by_space.setdefault(row.backbone, []).append(row)
    appended = 0
    for backbone, saved in by_space.items():
        vectors = np.stack([np.frombuffer(bytes(r.vector), dtype=r.dtype) for r in saved])
        try:
            appended += feature_index(backbone).append(
                [r.pk for r in saved], [r.image_id for r in saved], vectors
            )
        except (IndexUnavailable, IndexCorrupt, IndexMissing, OSError) as exc:
            logger.warning("feature index of %s not updated: %s", backbone, exc)
    return appended


def index_tombstone_feature(*, backbone: str, feature_pk: int) -> None:
    try:
        feature_index(backbone).tombstone([feature_pk])
    except OSError as exc:
        logger.warning("feature index of %s: tombstone failed: %s", backbone, exc)
