"""Reading PyTorch checkpoints without torch, and refusing pickles that would run code."""

import collections
import io
import pickle
import sys
import types
import zipfile

import numpy as np
import pytest

from muses.vision.efficientnet_lite0 import source_weights_path
from muses.vision.torch_weights import LEGACY_MAGIC_NUMBER, LEGACY_PROTOCOL_VERSION, load_state_dict

SHIPPED_TENSORS = 296
SHIPPED_VALUES = 4_694_073
STORAGE_NAMES = {np.dtype("<f4"): "FloatStorage", np.dtype("<i8"): "LongStorage"}


# --- A minimal torch.save written without torch --------------------------------------


class _Storage:
    def __init__(self, key: str, array: np.ndarray):
        self.key = key
        self.array = np.ascontiguousarray(array).ravel()


class _Tensor:
    """Pickles like a torch tensor: ``_rebuild_tensor_v2(storage, offset, size, stride, ...)``."""

    def __init__(self, storage, offset, size, stride, rebuild):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())
        self.rebuild = rebuild

    def __reduce__(self):
        return self.rebuild, self.args


@pytest.fixture
def fake_torch(monkeypatch):
    """Stand-in ``torch`` modules so pickle writes the same globals torch.save does."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # never called: only its name is pickled
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in STORAGE_NAMES.values():
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


def _pickle_state(state, storages, torch) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=2)

    def persistent_id(obj):
        if isinstance(obj, _Storage):
            kind = getattr(torch, STORAGE_NAMES[obj.array.dtype])
            return ("storage", kind, obj.key, "cpu", obj.array.size)
        return None

    pickler.persistent_id = persistent_id
    pickler.dump(state)
    return buffer.getvalue()


def _sample_state(torch):
    """A contiguous tensor, a transposed view at an offset, and an int64 scalar."""
    rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
    floats = _Storage("0", np.arange(20, dtype="<f4"))
    longs = _Storage("1", np.array([7], dtype="<i8"))
    state = collections.OrderedDict(
        weight=_Tensor(floats, 0, (2, 3), (3, 1), rebuild),
        view=_Tensor(floats, 8, (3, 2), (1, 3), rebuild),
        count=_Tensor(longs, 0, (), (), rebuild),
    )
    expected = {
        "weight": np.arange(6, dtype="f4").reshape(2, 3),
        "view": np.arange(8, 14, dtype="f4").reshape(2, 3).T,
        "count": np.array(7, dtype="i8"),
    }
    return state, [floats, longs], expected


def _write_legacy(path, state_pickle: bytes, storages) -> None:
    with open(path, "wb") as handle:
        pickle.dump(LEGACY_MAGIC_NUMBER, handle, protocol=2)
        pickle.dump(LEGACY_PROTOCOL_VERSION, handle, protocol=2)
        pickle.dump({"little_endian": True, "type_sizes": {"int": 4}}, handle, protocol=2)
        handle.write(state_pickle)
        pickle.dump([s.key for s in storages], handle, protocol=2)
        for storage in storages:
            handle.write(np.int64(storage.array.size).astype("<i8").tobytes())
            handle.write(storage.array.tobytes())


def _write_zip(path, state_pickle: bytes, storages) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", state_pickle)
        archive.writestr("archive/byteorder", "little")
        for storage in storages:
            archive.writestr(f"archive/data/{storage.key}", storage.array.tobytes())
        archive.writestr("archive/version", "3\n")


def _assert_same(loaded, expected):
    assert list(loaded) == list(expected)
    for name, array in expected.items():
        assert loaded[name].dtype == array.dtype
        np.testing.assert_array_equal(loaded[name], array)


# --- Tests ---------------------------------------------------------------------------


def test_the_shipped_lite0_checkpoint_holds_296_tensors_and_4694073_values():
    state = load_state_dict(source_weights_path())
    assert len(state) == SHIPPED_TENSORS
    assert sum(a.size for a in state.values()) == SHIPPED_VALUES
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_fc.weight"].dtype == np.float32


def test_a_hand_written_legacy_checkpoint_round_trips_strided_views(tmp_path, fake_torch):
    state, storages, expected = _sample_state(fake_torch)
    path = tmp_path / "legacy.pth"
    _write_legacy(path, _pickle_state(state, storages, fake_torch), storages)
    loaded = load_state_dict(path)
    _assert_same(loaded, expected)
    assert loaded["view"].flags.owndata  # a copy, not a view of the file buffer


def test_a_hand_written_zip_checkpoint_round_trips(tmp_path, fake_torch):
    state, storages, expected = _sample_state(fake_torch)
    path = tmp_path / "zipped.pth"
    _write_zip(path, _pickle_state(state, storages, fake_torch), storages)
    _assert_same(load_state_dict(path), expected)


def test_a_checkpoint_calling_os_system_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    # Protocol 0 by hand: GLOBAL os.system, MARK, the command string, TUPLE, REDUCE, STOP.
    payload = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    path = tmp_path / "evil.pth"
    _write_legacy(path, payload, [])
    with pytest.raises(pickle.UnpicklingError, match=r"os\.system"):
        load_state_dict(path)
    assert not marker.exists()


def test_a_zip_checkpoint_calling_a_builtin_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"cbuiltins\neval\n(S'1+1'\ntR.")
    with pytest.raises(pickle.UnpicklingError, match=r"builtins\.eval"):
        load_state_dict(path)
