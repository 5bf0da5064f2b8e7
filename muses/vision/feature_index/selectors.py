"""The database side of the feature index: a feature space's rows (the source of truth),
read in keyset batches or by chunked look-ups of ids, and the names of the images its
rows point to."""

from collections.abc import Iterable, Iterator

import numpy as np
from django.db.models import QuerySet

from muses.collection.models import Image
from muses.db import any_of
from muses.vision.inference import configured_family, family_filter
from muses.vision.models import ImageFeature

# Rows read from the database per query when building or repairing.
BUILD_BATCH = 5_000
# Image ids per IN (...) query (SQLite allows 32,766 variables).
LOOKUP_CHUNK = 5_000


def space_features(backbone: str, family: str | None = None):
    """The database rows of one feature space (the source of truth of its index)."""
    family = family or configured_family()
    return ImageFeature.objects.filter(backbone=backbone).filter(family_filter(family))


def keyset_batches(backbone: str, family, fields: tuple[str, ...], size: int, progress=None):
    """Rows of the space as value tuples (``id`` first), in id order, ``size`` at a time:
    keyset pagination, so the cost of a batch does not grow with its position."""
    last = 0
    while True:
        batch = list(
            space_features(backbone, family)
            .filter(id__gt=last)
            .order_by("id")
            .values_list("id", *fields)[:size]
        )
        if not batch:
            return
        last = batch[-1][0]
        if progress is not None:
            progress(len(batch))
        yield batch


def database_batches(backbone: str, family: str, progress=None) -> Iterator[tuple]:
    """(feature pks, image pks, vectors) of every row, BUILD_BATCH at a time."""
    fields = ("image_id", "vector", "dtype")
    for batch in keyset_batches(backbone, family, fields, BUILD_BATCH, progress):
        vectors = np.stack([np.frombuffer(bytes(v), dtype=d) for _, _, v, d in batch])
        yield (
            np.array([r[0] for r in batch], np.int64),
            np.array([r[1] for r in batch], np.int64),
            vectors,
        )


def database_refs(backbone: str, family: str, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """(feature pks, image pks) of every row of the space, in id order."""
    features, images = [], []
    for batch in keyset_batches(backbone, family, ("image_id",), BUILD_BATCH * 10, progress):
        features += [r[0] for r in batch]
        images += [r[1] for r in batch]
    return np.array(features, np.int64), np.array(images, np.int64)


def feature_rows(feature_pks: list[int]) -> list[tuple]:
    """(id, image pk, vector bytes, dtype) of these feature rows, in id order."""
    rows = []
    for start in range(0, len(feature_pks), LOOKUP_CHUNK):
        chunk = feature_pks[start : start + LOOKUP_CHUNK]
        qs = ImageFeature.objects.filter(any_of("id", chunk)).order_by("id")
        rows += qs.values_list("id", "image_id", "vector", "dtype")
    return rows


def feature_refs(
    *, backbone: str, image_ids: Iterable[str], family: str | None = None
) -> dict[str, tuple[int, int]]:
    """image_id -> (feature pk, image pk) of the stored vectors of one feature space."""
    ids = list(dict.fromkeys(image_ids))
    refs: dict[str, tuple[int, int]] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        # Two look-ups by unique index rather than one join: the planner cannot pick a
        # scan of the feature table, whatever its statistics say.
        names = dict(Image.objects.filter(any_of("image_id", chunk)).values_list("pk", "image_id"))
        rows = space_features(backbone, family).filter(any_of("image_id", list(names)))
        for pk, image_pk in rows.values_list("id", "image_id"):
            refs[names[image_pk]] = (pk, image_pk)
    return refs


def feature_refs_of_images(
    *, backbone: str, images: QuerySet, family: str | None = None
) -> dict[str, tuple[int, int]]:
    """image_id -> (feature pk, image pk) of the stored vectors of a queryset's images,
    in feature order: one query, the images a subquery."""
    rows = space_features(backbone, family).filter(image__in=images.values("pk")).order_by("id")
    return {
        name: (pk, image_pk)
        for pk, image_pk, name in rows.values_list("id", "image_id", "image__image_id")
    }


def image_ids_of(image_pks: Iterable[int]) -> dict[int, str]:
    """image pk -> image_id of the images that still exist (the database decides)."""
    pks = list(dict.fromkeys(int(p) for p in image_pks))
    found: dict[int, str] = {}
    for start in range(0, len(pks), LOOKUP_CHUNK):
        chunk = pks[start : start + LOOKUP_CHUNK]
        found.update(Image.objects.filter(any_of("pk", chunk)).values_list("pk", "image_id"))
    return found


class ImageNames:
    """image pk -> image_id of every image, read once in pk order (keyset pages): what a
    whole-library pass resolves its rows with. At a million images, a hundred look-ups of
    10,000 scattered pks cost the database about ten times as much as one ordered read."""

    PAGE = 50_000

    def __init__(self, pks: np.ndarray, names: list[str]):
        self.pks, self.names = pks, names

    @classmethod
    def read(cls) -> "ImageNames":
        pks, names, last = [], [], 0
        while True:
            page = list(
                Image.objects.filter(pk__gt=last)
                .order_by("pk")
                .values_list("pk", "image_id")[: cls.PAGE]
            )
            if not page:
                return cls(np.array(pks, np.int64), names)
            pks += [pk for pk, _ in page]
            names += [name for _, name in page]
            last = page[-1][0]

    def of(self, image_pks: np.ndarray, *, live: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """(positions among image_pks that are live and name an existing image, their
        image ids)."""
        if not len(self.pks):
            return np.zeros(0, np.int64), []
        image_pks = np.asarray(image_pks, np.int64)
        at = np.minimum(np.searchsorted(self.pks, image_pks), len(self.pks) - 1)
        keep = np.flatnonzero(live & (self.pks[at] == image_pks))
        return keep, [self.names[i] for i in at[keep].tolist()]
