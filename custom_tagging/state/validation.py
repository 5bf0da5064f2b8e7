"""Reading a state tar and checking all of it before anything changes: member paths and
checksums, JSON shapes, arrays loaded without pickle, the backbone. The result is a plan."""

import hashlib
import io
import json
import math
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from custom_tagging import exceptions as errors
from custom_tagging.models import Assignment
from custom_tagging.services.features import backbone_get
from custom_tagging.services.tags import tag_name_validate
from custom_tagging.state.layout import FORMAT, FORMAT_VERSION, MANIFEST
from custom_tagging.state.reading import read_tar_members
from muses.collection.models import IMAGE_ID_RE
from muses.vision.inference import FP32_FAMILY, configured_family

# A version's metrics are a few nested objects (per-fold figures); deeper is not ours.
MAX_METRICS_DEPTH = 8
NPY_VERSIONS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


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
