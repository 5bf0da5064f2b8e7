"""The state tar: trained tags (and optionally features) moved between installations.

Layout::

    manifest.json           format, format_version, backbone, weights_digest, feature_dim,
                            created, tags (paths of the tag files), files (sha256 of each)
    tags/00000.json         name, target_precision, assignments by image_id, model (or null)
    tags/00000.coef.npy     the active version's weights (float32, feature_dim)
    features/image_ids.json, features/vectors.npy   only with include_features

Loading reads every member into memory (nothing is extracted to disk), checks all of it —
member types and paths, sizes, checksums, JSON shapes, arrays loaded with
``allow_pickle=False``, the backbone — and only then changes the database, in one
transaction: all or nothing.
"""

import hashlib
import io
import json
import math
import tarfile
import time
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from custom_tagging import exceptions as errors
from custom_tagging.models import COEF_DTYPE, Assignment, CustomTag, TagVersion
from custom_tagging.services.features import backbone_get
from custom_tagging.services.tags import tag_name_validate
from custom_tagging.services.versions import LinearHead, version_create
from custom_tagging.tar_reading import read_tar_members
from muses.collection.models import IMAGE_ID_RE, Image
from muses.vision.feature_index.handle import feature_index
from muses.vision.inference import (
    FP32_FAMILY,
    configured_family,
    family_filter,
    family_numerics,
)
from muses.vision.models import ImageFeature
from muses.vision.store import compatible_features, feature_row, index_append_stored

FORMAT = "muses-custom-tagging-state"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LOOKUP_CHUNK = 500
# A version's metrics are a few nested objects (per-fold figures); deeper is not ours.
MAX_METRICS_DEPTH = 8
NPY_VERSIONS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}

EXPORT_CHUNK_ROWS = 20_000


# --- export ---------------------------------------------------------------------------


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


# --- import: reading and checking -----------------------------------------------------


@dataclass
class TagPlan:
    name: str
    target_precision: float | None
    assignments: dict[str, list[str]]
    model: dict | None = None
    coef: np.ndarray | None = None


@dataclass
class StatePlan:
    tags: list[TagPlan]
    feature_ids: list[str] = field(default_factory=list)
    features: np.ndarray | None = None


def state_import(*, data: bytes) -> dict:
    """Load a state tar: every tag it holds gets its assignments (for images that exist
    here) and, when it has a model, a new active version. Tags not in the tar are kept."""
    if len(data) > settings.MUSES_STATE_MAX_BYTES:
        raise errors.UploadTooLarge(
            f"The state is {len(data):,} bytes; the limit is {settings.MUSES_STATE_MAX_BYTES:,} "
            "(MUSES_STATE_MAX_BYTES)."
        )
    plan = state_read(data=data)
    with transaction.atomic():
        return _apply(plan)


def state_read(*, data: bytes) -> StatePlan:
    """Parse and check a state tar completely; raises InvalidState or BackboneMismatch."""
    members = read_tar_members(data, max_bytes=settings.MUSES_STATE_MAX_BYTES)
    manifest = _manifest(members)
    # Only what the manifest vouches for may be read: a member left out of 'files' could
    # say anything (a threshold of 0) without failing a checksum.
    members = _checksummed(manifest, members)
    dim = manifest["feature_dim"]
    tags = [_tag_plan(members, path, dim) for path in _string_list(manifest, "tags", MANIFEST)]
    names = [t.name for t in tags]
    if len(set(names)) != len(names):
        raise errors.InvalidState("The state names the same tag twice.")
    plan = StatePlan(tags=tags)
    features = manifest.get("features")
    if features is not None and not isinstance(features, str):
        raise errors.InvalidState(f"{MANIFEST}: 'features' must be null or a member name.")
    if features:
        plan.feature_ids, plan.features = _features(members, features, dim)
    return plan


def _json_member(members: dict[str, bytes], name: str):
    if name not in members:
        raise errors.InvalidState(f"The state has no {name!r}.")
    try:
        return json.loads(members[name].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.InvalidState(f"{name} is not valid JSON: {exc}")
    except RecursionError:
        raise errors.InvalidState(f"{name} is nested too deeply to be a state document.")


def _manifest(members: dict[str, bytes]) -> dict:
    manifest = _json_member(members, MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise errors.InvalidState(f"{MANIFEST} does not describe a {FORMAT!r} file.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise errors.InvalidState(
            f"Unsupported format_version {manifest.get('format_version')!r} "
            f"(this installation reads {FORMAT_VERSION})."
        )
    _check_backbone(manifest)
    return manifest


def _check_backbone(manifest: dict) -> None:
    backbone = backbone_get()
    theirs = (manifest.get("backbone"), manifest.get("weights_digest"), manifest.get("feature_dim"))
    ours = (backbone.name, backbone.weights_digest, backbone.feature_dim)
    # States written before vectors recorded their numerics hold TensorFlow fp32 vectors.
    family = manifest.get("numerics_family", FP32_FAMILY)
    if family != configured_family():
        raise errors.BackboneMismatch(
            f"The state's features are of the {family!r} numerics family; this installation "
            f"stores and reads {configured_family()!r} vectors (MUSES_PRECISION), and the two "
            "are never mixed."
        )
    if theirs != ours:
        raise errors.BackboneMismatch(
            f"The state was made with backbone {theirs[0]!r} (weights {theirs[1]!r}, "
            f"{theirs[2]!r} features); this installation uses {ours[0]!r} (weights "
            f"{ours[1]!r}, {ours[2]} features). Its models cannot score these features."
        )


def _checksummed(manifest: dict, members: dict[str, bytes]) -> dict[str, bytes]:
    """The members listed in the manifest's 'files', each matching its sha256."""
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise errors.InvalidState(f"{MANIFEST} has no 'files' checksums.")
    for name, digest in files.items():
        if name not in members:
            raise errors.InvalidState(f"The state is missing {name[:200]!r} (truncated?).")
        if hashlib.sha256(members[name]).hexdigest() != digest:
            raise errors.InvalidState(f"{name[:200]!r} does not match its checksum (corrupt).")
    return {name: members[name] for name in files}


def _string_list(doc: dict, key: str, where: str) -> list[str]:
    value = doc.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.InvalidState(f"{where}: {key!r} must be a list of strings.")
    return value


def _number(doc: dict, key: str, where: str, *, low: float, high: float) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise errors.InvalidState(f"{where}: {key!r} must be a finite number.")
    if not low <= value <= high:
        raise errors.InvalidState(f"{where}: {key!r} must be between {low} and {high}.")
    return float(value)


def _tag_plan(members: dict[str, bytes], path: str, dim: int) -> TagPlan:
    if path not in members:
        raise errors.InvalidState(
            f"{MANIFEST} lists {path[:200]!r}, which is not a checksummed member."
        )
    doc = _json_member(members, path)
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
        raise errors.InvalidState(f"{path}: not a tag document.")
    try:
        name = tag_name_validate(name=doc["name"])
    except errors.InvalidTagName as exc:
        raise errors.InvalidState(f"{path}: {exc.detail}")
    target = doc.get("target_precision")
    if target is not None:
        target = _number(doc, "target_precision", path, low=0.0, high=1.0)
    plan = TagPlan(name=name, target_precision=target, assignments=_assignments(doc, path))
    if doc.get("model") is not None:
        plan.model, plan.coef = _model(members, doc["model"], path, dim)
    return plan


def _assignments(doc: dict, path: str) -> dict[str, list[str]]:
    raw = doc.get("assignments") or {}
    if not isinstance(raw, dict):
        raise errors.InvalidState(f"{path}: 'assignments' must be an object.")
    result = {}
    for label in Assignment.Label.values:
        ids = _string_list(raw, label, path) if label in raw else []
        bad = [i for i in ids if not IMAGE_ID_RE.match(i)]
        if bad:
            raise errors.InvalidState(f"{path}: invalid image_id {bad[0][:80]!r}.")
        twice = _first_duplicate(ids)
        if twice is not None:
            raise errors.InvalidState(f"{path}: {label} lists image {twice!r} twice.")
        result[label] = ids
    if set(result["positive"]) & set(result["negative"]):
        raise errors.InvalidState(f"{path}: an image is both positive and negative.")
    return result


def _model(members, model: dict, path: str, dim: int) -> tuple[dict, np.ndarray]:
    if not isinstance(model, dict) or not isinstance(model.get("coef"), str):
        raise errors.InvalidState(f"{path}: 'model' must be an object naming its 'coef' file.")
    clean = {
        "version": int(_number(model, "version", path, low=1, high=2**31)),
        "threshold": _number(model, "threshold", path, low=0.0, high=1.0),
        "intercept": _number(model, "intercept", path, low=-1e6, high=1e6),
        "positives": int(_number(model, "positives", path, low=0, high=2**31)),
        "negatives": int(_number(model, "negatives", path, low=0, high=2**31)),
        "metrics": _metrics(model, path),
        "created": str(model.get("created", ""))[:40],
    }
    coef = _array(members, model["coef"], path)
    if coef.shape != (dim,):
        raise errors.InvalidState(f"{model['coef']}: expected shape ({dim},), got {coef.shape}.")
    return clean, coef


def _first_duplicate(values: list[str]) -> str | None:
    seen = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


def _metrics(model: dict, path: str) -> dict:
    metrics = model.get("metrics")
    if not isinstance(metrics, dict):
        return {}
    if _depth(metrics) > MAX_METRICS_DEPTH:
        raise errors.InvalidState(
            f"{path}: 'metrics' is nested more than {MAX_METRICS_DEPTH} deep."
        )
    return metrics


def _depth(value) -> int:
    """How deeply lists and objects nest (iteratively: no recursion limit to hit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _array(members: dict[str, bytes], name: str, where: str) -> np.ndarray:
    if name not in members:
        raise errors.InvalidState(f"{where}: the state has no {name[:200]!r}.")
    _check_npy_header(members[name], name)
    try:
        array = np.load(io.BytesIO(members[name]), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise errors.InvalidState(f"{name} is not a plain numeric .npy array: {exc}")
    if not np.all(np.isfinite(array)):
        raise errors.InvalidState(f"{name} holds NaN or infinite values.")
    return array.astype(np.float32)


def _check_npy_header(content: bytes, name: str) -> None:
    """A float array whose header's shape matches the bytes that follow it: np.load would
    allocate whatever shape the header claims (terabytes) before reading a byte."""
    buffer = io.BytesIO(content)
    try:
        version = np.lib.format.read_magic(buffer)
        if version not in NPY_VERSIONS:
            raise ValueError(f"unsupported .npy version {version}")
        shape, _, dtype = NPY_VERSIONS[version](buffer)
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise errors.InvalidState(f"{name} is not a plain numeric .npy array: {exc}")
    if dtype.kind != "f" or dtype.hasobject:
        raise errors.InvalidState(f"{name} must hold floating-point numbers.")
    if (
        any(d < 0 for d in shape)
        or math.prod(shape) * dtype.itemsize != len(content) - buffer.tell()
    ):
        raise errors.InvalidState(
            f"{name}: its header claims shape {shape[:4]} of {dtype}, but "
            f"{len(content) - buffer.tell():,} bytes follow it."
        )


def _features(members, name: str, dim: int) -> tuple[list[str], np.ndarray]:
    ids = _json_member(members, "features/image_ids.json")
    if not isinstance(ids, list) or not all(
        isinstance(i, str) and IMAGE_ID_RE.match(i) for i in ids
    ):
        raise errors.InvalidState("features/image_ids.json must be a list of image ids.")
    vectors = _array(members, name, MANIFEST)
    if vectors.shape != (len(ids), dim):
        raise errors.InvalidState(
            f"{name}: expected shape ({len(ids)}, {dim}), got {vectors.shape}."
        )
    return ids, vectors


# --- import: applying -----------------------------------------------------------------


def _apply(plan: StatePlan) -> dict:
    report = {
        "tags": 0,
        "versions": 0,
        "versions_unchanged": 0,
        "assignments": 0,
        "assignments_skipped": 0,
        "features": 0,
    }
    all_ids = {i for t in plan.tags for ids in t.assignments.values() for i in ids}
    image_pks = _image_pks(all_ids | set(plan.feature_ids))
    for tag_plan in plan.tags:
        tag, _ = CustomTag.objects.get_or_create(name=tag_plan.name)
        tag.target_precision = tag_plan.target_precision
        tag.save(update_fields=["target_precision"])
        report["tags"] += 1
        written, skipped = _apply_assignments(tag, tag_plan.assignments, image_pks)
        report["assignments"] += written
        report["assignments_skipped"] += skipped
        if tag_plan.model is None:
            continue
        if _is_active_model(tag, tag_plan):
            report["versions_unchanged"] += 1  # loading the same state again adds nothing
        else:
            _apply_model(tag, tag_plan)
            report["versions"] += 1
    if plan.features is not None:
        report["features"] = _apply_features(plan, image_pks)
    return report


def _image_pks(image_ids: set[str]) -> dict[str, int]:
    ids = sorted(image_ids)
    found: dict[str, int] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        found.update(Image.objects.filter(image_id__in=chunk).values_list("image_id", "pk"))
    return found


def _apply_assignments(tag, assignments: dict[str, list[str]], image_pks) -> tuple[int, int]:
    existing = {a.image_id: a for a in Assignment.objects.filter(tag=tag)}
    create, update, skipped = [], [], 0
    for label, ids in assignments.items():
        for image_id in ids:
            pk = image_pks.get(image_id)
            if pk is None:
                skipped += 1
            elif pk in existing:
                existing[pk].label = label
                update.append(existing[pk])
            else:
                create.append(Assignment(tag=tag, image_id=pk, label=label))
    Assignment.objects.bulk_create(create, batch_size=LOOKUP_CHUNK)
    Assignment.objects.bulk_update(update, ["label"], batch_size=LOOKUP_CHUNK)
    return len(create) + len(update), skipped


def _is_active_model(tag: CustomTag, plan: TagPlan) -> bool:
    """The tag's active version is this very model: same backbone and weights, the same
    coefficients bit for bit, the same intercept and threshold."""
    backbone = backbone_get()
    active = tag.versions.filter(is_active=True).first()
    return (
        active is not None
        and (active.backbone, active.weights_digest) == (backbone.name, backbone.weights_digest)
        and bytes(active.coef) == plan.coef.astype(COEF_DTYPE).tobytes()
        and active.intercept == plan.model["intercept"]
        and active.threshold == plan.model["threshold"]
    )


def _apply_model(tag: CustomTag, plan: TagPlan) -> TagVersion:
    backbone = backbone_get()
    model = plan.model
    metrics = dict(
        model["metrics"], imported={"version": model["version"], "created": model["created"]}
    )
    head = LinearHead(
        coef=plan.coef,
        intercept=model["intercept"],
        threshold=model["threshold"],
        metrics=metrics,
        positives=model["positives"],
        negatives=model["negatives"],
    )
    return version_create(
        tag=tag, head=head, backbone=backbone.name, weights_digest=backbone.weights_digest
    )


def _apply_features(plan: StatePlan, image_pks: dict[str, int]) -> int:
    """Store vectors for images that exist here and have none of this family yet; a row of
    another family in the image's slot is replaced (never mixed). An image listed twice
    keeps its first vector, in the database and the index alike."""
    backbone = backbone_get()
    wanted: dict[int, np.ndarray] = {}
    for image_id, vector in zip(plan.feature_ids, plan.features):
        pk = image_pks.get(image_id)
        if pk is not None:
            wanted.setdefault(pk, vector)
    have = _with_compatible_features(backbone.name, list(wanted))
    numerics = family_numerics(configured_family())  # _check_backbone: the state's family
    rows = [
        feature_row(Image(pk=pk), backbone, vector, numerics)
        for pk, vector in wanted.items()
        if pk not in have
    ]
    if not rows:
        return 0
    missing = [row.image_id for row in rows]
    for start in range(0, len(missing), LOOKUP_CHUNK):
        ImageFeature.objects.filter(
            backbone=backbone.name, image_id__in=missing[start : start + LOOKUP_CHUNK]
        ).exclude(family_filter(configured_family())).delete()
    ImageFeature.objects.bulk_create(rows, batch_size=LOOKUP_CHUNK, ignore_conflicts=True)
    index_append_stored(
        backbone_name=backbone.name,
        image_pks=missing,
        vectors=np.stack([row.as_array() for row in rows]),
    )
    # Counted from the database, not from the rows built: ignore_conflicts skips silently.
    return len(_with_compatible_features(backbone.name, missing))


def _with_compatible_features(backbone_name: str, image_pks: list[int]) -> set[int]:
    """Those of the images that hold a vector this installation may mix with its own."""
    found: set[int] = set()
    for start in range(0, len(image_pks), LOOKUP_CHUNK):
        chunk = image_pks[start : start + LOOKUP_CHUNK]
        rows = compatible_features(backbone_name).filter(image_id__in=chunk)
        found.update(rows.values_list("image_id", flat=True))
    return found
