"""Read a PyTorch ``state_dict`` checkpoint into numpy arrays without importing torch.

Two on-disk layouts are understood:

* the legacy (pre-1.6) stream: magic number, protocol version and system info pickles,
  then the state-dict pickle whose tensors point at storages by persistent id, then a
  pickled list of storage keys, then per key an int64 element count and the raw bytes;
* the zip layout (torch >= 1.6): ``<archive>/data.pkl`` plus one ``<archive>/data/<key>``
  entry of raw bytes per storage.

Checkpoints are pickles, and unpickling runs whatever globals the stream names, so the
unpickler here admits only the handful of globals a plain state dict needs and refuses
everything else before it is called.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001

# torch storage class name -> numpy dtype of its elements (all little-endian on disk).
STORAGE_DTYPES: dict[str, np.dtype] = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


@dataclass(frozen=True)
class _StorageType:
    """Stand-in for ``torch.FloatStorage`` and friends: only its dtype matters."""

    name: str
    dtype: np.dtype


@dataclass
class _TensorRef:
    """A tensor whose storage bytes have not been read yet (legacy layout)."""

    key: str
    dtype: np.dtype
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(
    storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None
):
    """Replacement for ``torch._utils._rebuild_tensor_v2``: record where the tensor lives;
    the storage bytes come later in the legacy stream, so materialise afterwards."""
    key, dtype = storage
    return _TensorRef(key, dtype, int(storage_offset), tuple(size), tuple(stride))


ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    **{("torch", name): _StorageType(name, dtype) for name, dtype in STORAGE_DTYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Admits only the globals of a plain state dict; resolves storages by persistent id."""

    def __init__(self, file, persistent_load: Callable[[tuple], object]):
        super().__init__(file)
        self._persistent_load = persistent_load

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name} from a weights file"
            ) from None

    def persistent_load(self, pid):
        return self._persistent_load(pid)


def _storage_pid(pid) -> tuple[str, np.dtype]:
    """``('storage', storage_type, key, location, numel)`` -> (key, dtype)."""
    if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"):
        raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
    storage_type = pid[1]
    if not isinstance(storage_type, _StorageType):
        raise pickle.UnpicklingError(f"unexpected storage type {storage_type!r}")
    return str(pid[2]), storage_type.dtype


def _restricted_load(handle, persistent_load=_storage_pid):
    return _RestrictedUnpickler(handle, persistent_load).load()


def _plain_load(handle):
    """The header pickles hold only ints, strings and dicts: no globals at all."""
    return _RestrictedUnpickler(handle, _refuse_pid).load()


def _refuse_pid(pid):
    raise pickle.UnpicklingError(f"unexpected persistent id {pid!r} in a header pickle")


def _materialise(ref: _TensorRef, storage: np.ndarray) -> np.ndarray:
    """The tensor's view of its storage, copied so it owns its memory."""
    itemsize = storage.dtype.itemsize
    if any(s == 0 for s in ref.size):
        return np.zeros(ref.size, storage.dtype)
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride))
    if ref.offset < 0 or last >= len(storage):
        raise ValueError(f"tensor of storage {ref.key} reaches past its {len(storage)} elements")
    view = np.lib.stride_tricks.as_strided(
        storage[ref.offset :],
        shape=ref.size,
        strides=tuple(s * itemsize for s in ref.stride),
        writeable=False,
    )
    return np.array(view, copy=True)


def _resolve(state: dict, storages: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not isinstance(state, dict):
        raise ValueError(f"expected a state dict, found {type(state).__name__}")
    out: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if not isinstance(value, _TensorRef):
            raise ValueError(f"entry {name!r} is not a tensor ({type(value).__name__})")
        out[name] = _materialise(value, storages[value.key])
    return out


def _collect_refs(state: dict) -> dict[str, np.dtype]:
    return {ref.key: ref.dtype for ref in state.values() if isinstance(ref, _TensorRef)}


def _load_legacy(handle) -> dict[str, np.ndarray]:
    if _plain_load(handle) != LEGACY_MAGIC_NUMBER:
        raise ValueError("not a PyTorch checkpoint (bad magic number)")
    protocol = _plain_load(handle)
    if protocol != LEGACY_PROTOCOL_VERSION:
        raise ValueError(f"unsupported legacy protocol version {protocol}")
    _plain_load(handle)  # system info: endianness and type sizes, always little-endian here
    state = _restricted_load(handle)
    keys = _plain_load(handle)
    dtypes = _collect_refs(state)
    storages: dict[str, np.ndarray] = {}
    for key in keys:
        count = int(np.frombuffer(handle.read(8), "<i8")[0])
        if str(key) not in dtypes:
            raise ValueError(f"storage {key} is listed but no tensor uses it")
        dtype = dtypes[str(key)]
        raw = handle.read(count * dtype.itemsize)
        if len(raw) != count * dtype.itemsize:
            raise ValueError(f"truncated storage {key}")
        storages[str(key)] = np.frombuffer(raw, dtype)
    return _resolve(state, storages)


def _load_zip(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise ValueError(f"expected one data.pkl in {path}, found {len(pickles)}")
        prefix = pickles[0][: -len("data.pkl")]
        if f"{prefix}byteorder" in archive.namelist():
            if archive.read(f"{prefix}byteorder").strip() != b"little":
                raise ValueError(f"{path} was saved big-endian; only little-endian is read")
        with archive.open(pickles[0]) as handle:
            state = _restricted_load(io.BytesIO(handle.read()))
        storages = {
            key: np.frombuffer(archive.read(f"{prefix}data/{key}"), dtype)
            for key, dtype in _collect_refs(state).items()
        }
    return _resolve(state, storages)


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Tensor name -> numpy array for a PyTorch state-dict checkpoint (legacy or zip)."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        return _load_zip(path)
    with open(path, "rb") as handle:
        return _load_legacy(handle)
