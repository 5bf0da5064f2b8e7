"""Saved models: one ``.keras`` file holding the architecture, the weights and our metadata
(classes, target size, model type, unfrozen layers, history, dataset digest).

Because the file holds the whole architecture, any saved model loads whatever layers were
unfrozen when it was trained: the seed's "load into a model with the same unfrozen layers"
limitation is gone.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from pathlib import Path

from django.conf import settings

MODEL_SUFFIX = ".keras"
# Keras ignores zip entries it does not know, so the metadata travels inside the model file.
METADATA_ENTRY = "muses.json"
METADATA_FORMAT = 1
MODEL_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")


def configured_model_value() -> str:
    """The configured naive model (a path or a name in MUSES_MODEL_DIR); '' when none is."""
    return settings.MUSES_CONFIG["classification"]["naive_classification"]["model_path"]


class ModelFileError(ValueError):
    """A model file that is missing, or not one MUSES saved."""


class ClassMismatchError(ValueError):
    """A saved model whose classes differ from the current definitions."""


def check_model_name(name: str) -> str:
    if not MODEL_NAME_RE.match(name or ""):
        raise ValueError(
            f"model name {name!r} is invalid: use up to 100 letters, digits, '.', '-' or '_'"
        )
    return name


def model_path_for(name: str) -> Path:
    """Where a model called ``name`` is saved: MUSES_MODEL_DIR/<name>.keras."""
    check_model_name(name)
    stem = name[: -len(MODEL_SUFFIX)] if name.endswith(MODEL_SUFFIX) else name
    return Path(settings.MUSES_MODEL_DIR) / f"{stem}{MODEL_SUFFIX}"


def resolve_model_path(path_or_name: str | os.PathLike) -> Path:
    """An existing model file from a path, or from a name in MUSES_MODEL_DIR. A seed-style
    ``model.h5`` path finds ``model.keras`` next to it."""
    path = Path(path_or_name).expanduser()
    candidates = [path, path.with_suffix(MODEL_SUFFIX)]
    if not path.is_absolute():
        in_model_dir = Path(settings.MUSES_MODEL_DIR) / path
        candidates += [in_model_dir, in_model_dir.with_suffix(MODEL_SUFFIX)]
    for candidate in candidates:
        if candidate.is_file() and candidate.suffix == MODEL_SUFFIX:
            return candidate
    raise ModelFileError(
        f"No model file at {path_or_name} (looked for a {MODEL_SUFFIX} file there and in "
        f"MUSES_MODEL_DIR {settings.MUSES_MODEL_DIR})"
    )


def save_model_file(model, path: Path, metadata: dict) -> Path:
    """Write the model and its metadata to a temporary file, then rename it into place, so a
    reader never loads half a model."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keras insists on the .keras suffix, so the temporary name keeps it.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=MODEL_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            payload = {"format": METADATA_FORMAT, **metadata}
            archive.writestr(METADATA_ENTRY, json.dumps(payload, indent=2, default=_jsonable))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _jsonable(value):
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def read_metadata(path: Path) -> dict:
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read(METADATA_ENTRY))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError):
        raise ModelFileError(
            f"{path} is not a model saved by MUSES (no readable {METADATA_ENTRY} inside)"
        ) from None


def check_classes(metadata: dict, classes: dict[str, int], path: Path) -> None:
    saved = metadata.get("classes", {})
    if saved != classes:
        raise ClassMismatchError(
            f"The model {path} was trained on other classes than the definitions hold, so it "
            f"cannot be loaded. Model classes: {_listing(saved)}; definitions: {_listing(classes)}."
        )


def _listing(classes: dict[str, int]) -> str:
    return ", ".join(f"{index}={name}" for name, index in sorted(classes.items(), key=_by_index))


def _by_index(item):
    return item[1]


def load_model_file(path: Path):
    """The Keras model in ``path``, uncompiled."""
    import keras

    from naive_classification.layers import custom_objects

    return keras.saving.load_model(path, custom_objects=custom_objects(), compile=False)
