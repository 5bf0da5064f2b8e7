"""The feature store: each image's pooled features computed once per backbone, stored as
database rows and appended to the machine's shared index (:mod:`muses.vision.feature_index`)."""

import logging
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from tqdm import tqdm

from muses.collection.decode import ImageDecodeError
from muses.collection.models import Image
from muses.vision.backbones import Backbone, get_backbone
from muses.vision.batching import batcher_for
from muses.vision.feature_index.errors import IndexCorrupt, IndexMissing, IndexUnavailable
from muses.vision.feature_index.handle import feature_index
from muses.vision.feature_index.hooks import index_append_features
from muses.vision.inference import configured_family, family_filter, numerics_family
from muses.vision.models import ImageFeature

logger = logging.getLogger(__name__)

STORE_DTYPE = "float32"


def image_source(image: Image) -> Path | bytes:
    """The stored file's local path (fast), or its bytes when media are remote (S3)."""
    from muses.collection.media import image_source as stored_source

    return stored_source(image)


class IncompatibleNumerics(RuntimeError):
    """A vector of another numerics family than the one this process stores and reads."""


def feature_row(
    image: Image, backbone: Backbone, vector: np.ndarray, numerics: tuple[str, str] | None = None
) -> ImageFeature:
    """A row for a vector that ``backbone`` computed (or, given ``numerics``, that its
    (engine, precision) computed elsewhere)."""
    return ImageFeature(**_feature_fields(image, backbone, vector, numerics))


def _feature_fields(image: Image, backbone: Backbone, vector: np.ndarray, numerics=None) -> dict:
    engine, precision = numerics or backbone.numerics
    family = numerics_family(engine, precision)
    if numerics is None and family != configured_family():
        # The mixing rule (muses.vision.inference.numerics_family): a vector this process
        # would never read back is refused, not stored beside the others.
        raise IncompatibleNumerics(
            f"{engine} {precision} vectors are of the {family!r} family; this process "
            f"stores and reads the {configured_family()!r} family (MUSES_PRECISION)."
        )
    return {
        "image": image,
        "backbone": backbone.name,
        "weights_digest": backbone.weights_digest,
        "engine": engine,
        "precision": precision,
        "dim": int(vector.shape[0]),
        "dtype": STORE_DTYPE,
        "vector": vector.astype(STORE_DTYPE).tobytes(),
    }


def compatible_features(backbone_name: str | None = None):
    """The backbone's stored rows that may be mixed with what this process computes: one
    numerics family (muses.vision.inference), never two in one matrix or one training."""
    name = backbone_name or settings.MUSES_BACKBONE
    return ImageFeature.objects.filter(backbone=name).filter(family_filter(configured_family()))


def _replace_incompatible(images: list[Image], backbone: Backbone) -> None:
    """Rows of another family hold the (image, backbone) slot: the new vectors replace
    them (switching to a precision of another family re-extracts, never mixes)."""
    ImageFeature.objects.filter(backbone=backbone.name, image__in=images).exclude(
        family_filter(configured_family())
    ).delete()


def image_features_compute(*, image: Image, backbone: Backbone | None = None) -> np.ndarray:
    """The stored vector of one image, computing and storing it when missing.

    Concurrent callers are gathered into one forward pass by the dynamic batcher."""
    backbone = backbone or get_backbone()
    existing = compatible_features(backbone.name).filter(image=image).first()
    if existing is not None:
        return existing.as_array()
    pixels = backbone.pixels(image_source(image), name=image.image_id)
    vector = batcher_for(backbone).submit(pixels)
    row = feature_row(image, backbone, vector)
    try:
        with transaction.atomic():
            _replace_incompatible([image], backbone)
            row.save()
    except IntegrityError:
        return vector  # another worker stored it first: same image, same backbone, same vector
    index_append_features([row])
    return vector


def image_features_store(image: Image, backbone: Backbone, vector: np.ndarray) -> ImageFeature:
    """Store the vector of an image that has none yet (a new upload): no look-up first."""
    row = ImageFeature.objects.create(**_feature_fields(image, backbone, vector))
    index_append_features([row])
    return row


def extraction_announced(backbone: Backbone | None = None):
    """Wrap a request's decode + extraction: concurrent requests then share one batch."""
    return batcher_for(backbone or get_backbone()).announce()


def features_of_pixels(pixels: np.ndarray, backbone: Backbone | None = None) -> np.ndarray:
    """Features of one preprocessed image, batched with concurrent requests."""
    return batcher_for(backbone or get_backbone()).submit(pixels)


@dataclass
class ExtractionReport:
    extracted: int = 0
    failed: int = 0
    skipped: int = 0


def images_missing_features(backbone_name: str | None = None):
    """Images with no vector of this process's numerics family for the backbone."""
    have = compatible_features(backbone_name).values("image_id")
    return Image.objects.exclude(pk__in=have).order_by("id")


def features_extract(
    *,
    images: Iterable[Image] | None = None,
    backbone: Backbone | None = None,
    batch_size: int = 32,
    progress: bool = False,
    decode_workers: int | None = None,
    streams: int | None = None,
) -> ExtractionReport:
    """Extract and store features of images that have none, as a three-stage pipeline:
    a thread pool decodes the next batch while `streams` batches run through the network
    at once and this thread writes the oldest finished batch's rows (database work stays on
    the caller's connection)."""
    backbone = backbone or get_backbone()
    streams = max(1, streams or settings.MUSES_NETWORK_STREAMS)
    todo = list(images if images is not None else images_missing_features(backbone.name))
    report = ExtractionReport()
    bar = tqdm(total=len(todo), unit="img", disable=not progress, desc=f"features {backbone.name}")
    in_flight: deque = deque()  # (images, future vectors) of the batches in the network

    def store_oldest() -> None:
        batch_images, vectors = in_flight.popleft()
        report.extracted += _store_batch(batch_images, vectors.result(), backbone)
        bar.update(len(batch_images))

    # One decoding thread per core: more only take turns with the network's threads.
    workers = decode_workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool, ThreadPoolExecutor(streams) as network:
        for batch_images, pixels in _decoded_batches(todo, backbone, batch_size, pool, report):
            vectors = network.submit(backbone.extract, pixels, batch_size=batch_size)
            in_flight.append((batch_images, vectors))
            if len(in_flight) > streams:
                store_oldest()
        while in_flight:
            store_oldest()
    bar.close()
    report.skipped = len(todo) - report.extracted - report.failed
    return report


def _decode_one(image: Image, backbone: Backbone) -> np.ndarray | None:
    try:
        return backbone.pixels(image_source(image), name=image.image_id)
    except ImageDecodeError:
        return None


def _decoded_batches(
    todo: list[Image], backbone: Backbone, batch_size: int, pool, report: ExtractionReport
) -> Iterator[tuple[list[Image], np.ndarray]]:
    """Yield decoded batches; the next batch's decoding is submitted before yielding."""
    chunks = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    pending = [pool.submit(_decode_one, img, backbone) for img in chunks[0]] if chunks else []
    for index, chunk in enumerate(chunks):
        current = pending
        if index + 1 < len(chunks):
            pending = [pool.submit(_decode_one, img, backbone) for img in chunks[index + 1]]
        decoded = [(img, f.result()) for img, f in zip(chunk, current)]
        good = [(img, px) for img, px in decoded if px is not None]
        report.failed += len(decoded) - len(good)
        if good:
            yield [img for img, _ in good], np.stack([px for _, px in good])


def _store_batch(images: list[Image], vectors: np.ndarray, backbone: Backbone) -> int:
    rows = [feature_row(img, backbone, vec) for img, vec in zip(images, vectors)]
    with transaction.atomic():
        _replace_incompatible(images, backbone)
        # ignore_conflicts: another worker may have stored some of these meanwhile.
        ImageFeature.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        stored = _rows_stored_here(rows)
    index_append_stored(
        backbone_name=backbone.name, image_pks=[img.pk for img in images], vectors=vectors
    )
    return stored


def _rows_stored_here(rows: list[ImageFeature]) -> int:
    """How many of rows the insert stored, not skipped as conflicts: the insert returns no
    count, but a row it stored carries the creation time this process stamped on it."""
    ours = {(row.image_id, row.created) for row in rows}
    found = ImageFeature.objects.filter(
        image_id__in=[row.image_id for row in rows], backbone=rows[0].backbone
    ).values_list("image_id", "created")
    return sum(1 for pair in found if pair in ours)


# --- the shared index ----------------------------------------------------------------


def index_append_stored(*, backbone_name: str, image_pks: list[int], vectors: np.ndarray) -> int:
    """Append rows just written by a bulk insert (whose pks the insert did not return) to
    the machine's index; a row another worker stored first is taken as it is."""
    by_image = dict(zip(image_pks, range(len(image_pks))))
    stored = compatible_features(backbone_name).filter(image_id__in=image_pks)
    refs = list(stored.values_list("id", "image_id"))
    if not refs:
        return 0
    chosen = np.stack([vectors[by_image[image_pk]] for _, image_pk in refs])
    try:
        return feature_index(backbone_name).append(
            [pk for pk, _ in refs], [image_pk for _, image_pk in refs], chosen
        )
    except (IndexUnavailable, IndexCorrupt, IndexMissing, OSError) as exc:
        logger.warning("feature index of %s not updated: %s", backbone_name, exc)
        return 0
