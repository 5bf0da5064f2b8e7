"""Writing the state tar: every tag's assignments and active model, optionally the
stored features (layout in custom_tagging.state)."""

import hashlib
import io
import json
import tarfile
import time

import numpy as np
from django.conf import settings
from django.utils import timezone

from custom_tagging import exceptions as errors
from custom_tagging.models import Assignment, CustomTag
from custom_tagging.services.features import backbone_get
from custom_tagging.state.layout import FORMAT, FORMAT_VERSION, MANIFEST
from muses.vision.feature_index.handle import feature_index
from muses.vision.inference import configured_family

EXPORT_CHUNK_ROWS = 20_000


def state_export(*, include_features: bool = False) -> bytes:
    """Every tag with its assignments and active version as a tar (in memory)."""
    backbone = backbone_get()
    files: dict[str, bytes] = {}
    tag_paths = []
    for index, tag in enumerate(CustomTag.objects.order_by("name")):
        path = f"tags/{index:05d}.json"
        files[path] = _json_bytes(_tag_document(tag, path, files, backbone.name))
        tag_paths.append(path)
    if include_features:
        _add_features(files)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "backbone": backbone.name,
        "weights_digest": backbone.weights_digest,
        "feature_dim": backbone.feature_dim,
        # Which vectors these are (muses.vision.inference.numerics_family): another
        # installation takes them only into a matrix of the same family.
        "numerics_family": configured_family(),
        "created": timezone.now().isoformat(),
        "tags": tag_paths,
        "features": "features/vectors.npy" if include_features else None,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    return _tar_bytes({MANIFEST: _json_bytes(manifest), **files})


def _tag_document(tag: CustomTag, path: str, files: dict, backbone_name: str) -> dict:
    assignments = {label: [] for label in Assignment.Label.values}
    for image_id, label in tag.assignments.values_list("image__image_id", "label"):
        assignments[label].append(image_id)
    version = tag.versions.filter(is_active=True, backbone=backbone_name).first()
    model = None
    if version is not None:
        coef_path = path.replace(".json", ".coef.npy")
        files[coef_path] = _npy_bytes(version.coef_array())
        model = {
            "version": version.number,
            "threshold": version.threshold,
            "intercept": version.intercept,
            "metrics": version.metrics,
            "positives": version.positives,
            "negatives": version.negatives,
            "created": version.created.isoformat(),
            "coef": coef_path,
        }
    return {
        "name": tag.name,
        "target_precision": tag.target_precision,
        "assignments": assignments,
        "model": model,
    }


def _add_features(files: dict) -> None:
    index = feature_index(settings.MUSES_BACKBONE)
    handle = index.file()
    if handle is not None and index.live_count() * handle.dim * 4 > settings.MUSES_STATE_MAX_BYTES:
        raise errors.InvalidQuery(
            "The stored features are larger than MUSES_STATE_MAX_BYTES; export without them."
        )
    image_ids, chunks = [], []
    for ids, vectors in index.live_chunks(EXPORT_CHUNK_ROWS):
        image_ids += ids
        chunks.append(vectors)
    dim = handle.dim if handle is not None else 0
    matrix = np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32)
    files["features/image_ids.json"] = _json_bytes(image_ids)
    files["features/vectors.npy"] = _npy_bytes(matrix)


def _json_bytes(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1).encode("utf-8")


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _tar_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), now, 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
