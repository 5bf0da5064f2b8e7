"""Inference engines under the backbones: the network traced once, compiled once, and run
for every extraction (bulk, the web batcher, the feature pass of training).

OpenVINO runs the traced graph with kernels made for the CPU it finds (bf16 on a CPU with
AVX-512 BF16 or AMX); TensorFlow stays for training and is the fallback where OpenVINO is
not installed or cannot compile the network. ``MUSES_INFERENCE`` picks the engine (auto:
the one measured faster in the chosen precision: TensorFlow in fp32, OpenVINO in an
adopted reduced precision when it imports and compiles)
and ``MUSES_PRECISION`` the arithmetic (auto: the fastest adopted precision the CPU has,
fp32 today: bf16 and INT8 are faster but did not keep quality).

Which vectors may meet is decided here, by ``numerics_family``: the feature store keeps
each vector's engine and precision, and a matrix or a training only ever holds vectors of
the family this process computes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db.models import Q

logger = logging.getLogger(__name__)

AUTO = "auto"
# Precisions whose vectors may be mixed with fp32 ones. A reduced precision is adopted
# only when bench/engine_quality.py shows it keeps quality: the 20 + 20 custom-tag
# protocol and the naive classifier's test accuracy within 0.5 points of fp32 features,
# and a tag trained on fp32 features scoring its vectors within 0.01 (mean abs). bf16
# failed (BENCHMARKS.md, 2026-12-01: coin accuracy -0.7 points, score drift up to 0.013),
# so it is a family of its own, chosen only by MUSES_PRECISION=bf16; so is INT8 (2026-12-02:
# score drift up to 0.06), chosen only by MUSES_PRECISION=int8.
ADOPTED_PRECISIONS = frozenset({"fp32"})
FP32_FAMILY = "fp32"
IMPORTED = "imported"
# INT8 networks run their quantised ops in int8 (VNNI/AMX) and the rest in f32.
OPENVINO_HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}
INT8 = "int8"
# What OpenVINO's CPU plugin says when it has native bf16 kernels.
BF16_CAPABILITY = "BF16"
INT8_CAPABILITY = "INT8"
CALIBRATION_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp")
# Names the nncf settings in the INT8 IR's cache key: a change makes a new IR.
QUANTIZATION_SETTINGS = "mixed"
IR_FOLDER = "openvino"
COMPILED_FOLDER = "compiled"


class EngineUnavailable(RuntimeError):
    """The engine asked for cannot run here; the message says why."""


# --- which vectors may meet ------------------------------------------------------------


def numerics_family(engine: str, precision: str) -> str:
    """Vectors of one family may share a matrix or a training; vectors of two never do.

    fp32 vectors of either engine agree to ~1e-6 (relative), so they are one family; a
    reduced precision joins it once adopted (ADOPTED_PRECISIONS), otherwise it is a family
    of its own, and switching to it re-extracts every vector rather than mixing."""
    if precision in ADOPTED_PRECISIONS:
        return FP32_FAMILY
    return f"{engine}-{precision}"


def family_filter(family: str) -> Q:
    """A Q over ImageFeature rows that keeps exactly the rows of one family. The fp32
    family is every adopted precision, whichever engine computed it (vectors imported
    from a state file included); any other family is one engine at one precision."""
    if family == FP32_FAMILY:
        return Q(precision__in=sorted(ADOPTED_PRECISIONS))
    engine, precision = family_numerics(family)
    return Q(engine=engine, precision=precision)


def family_numerics(family: str) -> tuple[str, str]:
    """(engine, precision) of a family's vectors, as stored rows record them; fp32-family
    vectors that came from elsewhere (a state file) are recorded as engine "imported"."""
    if family == FP32_FAMILY:
        return IMPORTED, "fp32"
    engine, _, precision = family.partition("-")
    return engine, precision


def configured_family() -> str:
    """The family this process's vectors belong to, from the settings alone (no network is
    built): auto picks an adopted precision, and an explicit precision that the chosen
    engine cannot deliver is refused when the engine is built, never silently replaced."""
    precision = settings.MUSES_PRECISION
    if precision == AUTO:
        return FP32_FAMILY
    engine = "openvino" if settings.MUSES_INFERENCE == AUTO else settings.MUSES_INFERENCE
    return numerics_family(engine, precision)


# --- TensorFlow ------------------------------------------------------------------------


class TensorFlowEngine:
    """The traced graph run by TensorFlow: one concrete function per (batch, dtype)."""

    name = "tensorflow"
    precision = "fp32"

    def __init__(self, graph):
        self._graph = graph
        self._lock = threading.Lock()
        self._compiled: dict = {}

    def run(self, batch: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        key = (len(batch), batch.dtype.str)
        fn = self._compiled.get(key)
        if fn is None:
            with self._lock:
                fn = self._compiled.get(key)
                if fn is None:
                    spec = tf.TensorSpec(batch.shape, tf.as_dtype(batch.dtype))
                    fn = tf.function(self._graph).get_concrete_function(spec)
                    self._compiled[key] = fn
        return np.asarray(fn(tf.constant(batch)))


# --- OpenVINO --------------------------------------------------------------------------


class OpenVinoEngine:
    """The traced graph converted to OpenVINO once per input dtype (the IR cached on disk
    when the weights are a known file), compiled once, run through a pool of infer
    requests: one per concurrent caller, each reused."""

    name = "openvino"

    def __init__(
        self,
        graph,
        *,
        input_shape: tuple,
        precision: str,
        cache_key: str | None,
        model_json="",
        calibration: Calibration | None = None,
    ):
        self._graph = graph
        self.input_shape = tuple(input_shape)
        self.precision = precision
        self.cache_key = cache_key
        self._model_json = model_json
        self._calibration = calibration
        self._lock = threading.Lock()
        self._compiled: dict[str, object] = {}
        self._idle: dict[str, queue.SimpleQueue] = {}

    def run(self, batch: np.ndarray) -> np.ndarray:
        dtype = batch.dtype.str
        compiled = self.compiled(batch.dtype)
        idle = self._idle[dtype]
        try:
            request = idle.get_nowait()
        except queue.Empty:
            request = compiled.create_infer_request()
        try:
            result = request.infer([np.ascontiguousarray(batch)])
            return np.array(result[0], np.float32, copy=True)
        finally:
            idle.put(request)

    def compiled(self, dtype) -> object:
        key = np.dtype(dtype).str
        compiled = self._compiled.get(key)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(key)
                if compiled is None:
                    compiled = self._compile(np.dtype(dtype))
                    self._idle[key] = queue.SimpleQueue()
                    self._compiled[key] = compiled
        return compiled

    def _compile(self, dtype: np.dtype):
        """From the IR file (cached per weights digest, dtype and architecture), or for
        weights that are no file (random, tests) from the converted model itself."""
        core, config = openvino_core(), openvino_config(self.precision)
        if self.cache_key is None:
            return core.compile_model(self._network(dtype), "CPU", config)
        path = ir_path(self.cache_key, dtype, self._model_json + self._ir_salt())
        if not path.exists():
            write_ir(self._network(dtype), path)
        try:
            return core.compile_model(str(path), "CPU", config)
        except RuntimeError as exc:
            # A cache cut short (disk full, edited by hand) is rebuilt, not fatal.
            logger.warning("unreadable OpenVINO IR %s (%s); converting again", path, exc)
            write_ir(self._network(dtype), path)
            return core.compile_model(str(path), "CPU", config)

    def _ir_salt(self) -> str:
        """An INT8 network is its own IR, named by the calibration set too."""
        if self.precision != INT8:
            return ""
        return f"|{INT8}|{self._calibration.digest}|{QUANTIZATION_SETTINGS}"

    def _network(self, dtype: np.dtype):
        """The converted network; for INT8, quantised on the calibration images."""
        model = convert_graph(self._graph, self.input_shape, dtype)
        if self.precision != INT8:
            return model
        return quantize(model, self._calibration.pixels().astype(dtype, copy=False))


def openvino_core():
    """One OpenVINO Core per process, with its compiled-model cache under
    MUSES_WEIGHTS_DIR (keyed by OpenVINO on the IR and the compile settings, so each
    precision gets its own entry)."""
    global _core
    with _core_lock:
        if _core is None:
            try:
                import openvino as ov
            except ImportError as exc:
                raise EngineUnavailable(f"OpenVINO is not installed ({exc})") from None
            core = ov.Core()
            cache = Path(settings.MUSES_WEIGHTS_DIR) / IR_FOLDER / COMPILED_FOLDER
            try:
                cache.mkdir(parents=True, exist_ok=True)
                core.set_property({"CACHE_DIR": str(cache)})
            except OSError as exc:  # a read-only weights folder: compile every start instead
                logger.warning("no compiled-model cache in %s: %s", cache, exc)
            _core = core
        return _core


_core = None
_core_lock = threading.Lock()


def openvino_config(precision: str) -> dict:
    """Compile settings: the precision, and the threads and streams this process gives the
    network (MUSES_INFERENCE_THREADS, 0 = every core; MUSES_INFERENCE_STREAMS, each stream
    running one batch on its share of the threads: one stream gives a lone request, as
    the web and training send them, every thread)."""
    config = {
        "INFERENCE_PRECISION_HINT": OPENVINO_HINTS[precision],
        "NUM_STREAMS": str(max(1, settings.MUSES_INFERENCE_STREAMS)),
    }
    if settings.MUSES_INFERENCE_THREADS > 0:
        config["INFERENCE_NUM_THREADS"] = str(settings.MUSES_INFERENCE_THREADS)
    return config


def cpu_has_bf16() -> bool:
    return BF16_CAPABILITY in openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def cpu_has_int8() -> bool:
    return INT8_CAPABILITY in openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


# --- INT8: post-training quantisation ------------------------------------------------


@dataclass
class Calibration:
    """The images an INT8 network is calibrated on (a few hundred of the collection's),
    decoded as the backbone decodes them; the digest of their bytes names the IR."""

    files: list[Path]
    pixels_of: Callable[[Path], np.ndarray]

    @cached_property
    def digest(self) -> str:
        sha = hashlib.sha256()
        for path in self.files:
            sha.update(path.name.encode() + b"\0" + path.read_bytes())
        return sha.hexdigest()[:12]

    def pixels(self) -> np.ndarray:
        from tqdm import tqdm

        files = tqdm(self.files, desc="INT8 calibration images", unit="img", leave=False)
        return np.stack([self.pixels_of(path) for path in files])


def calibration_for(pixels_of: Callable[[Path], np.ndarray]) -> Calibration:
    """The first MUSES_CALIBRATION_IMAGES images (by name) of MUSES_CALIBRATION_DIR."""
    folder = Path(settings.MUSES_CALIBRATION_DIR)
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in CALIBRATION_SUFFIXES)
    files = files[: settings.MUSES_CALIBRATION_IMAGES]
    if not files:
        raise EngineUnavailable(
            f"MUSES_PRECISION=int8 needs calibration images: none in {folder} "
            "(MUSES_CALIBRATION_DIR)"
        )
    return Calibration(files, pixels_of)


def quantize(model, pixels: np.ndarray):
    """The network with its convolutions quantised to INT8 by nncf, calibrated on these
    pixels (statistics of every activation, then a bias correction)."""
    try:
        import nncf
    except ImportError as exc:
        raise EngineUnavailable(f"MUSES_PRECISION=int8 needs nncf ({exc})") from None
    logger.warning("calibrating INT8 on %d images (once: the IR is cached)", len(pixels))
    dataset = nncf.Dataset([pixels[i : i + 1] for i in range(len(pixels))])
    return nncf.quantize(model, dataset, subset_size=len(pixels), **quantize_options(nncf))


def quantize_options(nncf) -> dict:
    """What QUANTIZATION_SETTINGS names, as nncf's arguments."""
    return {"preset": nncf.QuantizationPreset.MIXED}


def convert_graph(graph, input_shape: tuple, dtype: np.dtype):
    """The graph traced by TensorFlow for any batch size, as an OpenVINO model."""
    import openvino as ov
    import tensorflow as tf

    spec = tf.TensorSpec((None, *input_shape), tf.as_dtype(dtype))
    return ov.convert_model(tf.function(graph).get_concrete_function(spec))


def ir_path(cache_key: str, dtype: np.dtype, model_json: str = "") -> Path:
    """Where the IR of one network lives: named by backbone and weights digest, with a
    hash of the architecture, the input dtype and OpenVINO's version, so an edited
    network or a new OpenVINO never reads a stale file."""
    import openvino as ov

    salt = f"{cache_key}|{np.dtype(dtype).str}|{model_json}|{ov.__version__}"
    digest = hashlib.sha256(salt.encode()).hexdigest()[:12]
    return Path(settings.MUSES_WEIGHTS_DIR) / IR_FOLDER / f"{cache_key}-{digest}.xml"


def write_ir(model, path: Path) -> None:
    """Save the IR atomically: concurrent builders each write their own folder, then move
    the weights file and last the .xml (whose presence means the pair is complete)."""
    import openvino as ov

    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".ir-", dir=path.parent))
    try:
        # fp16 compression is OpenVINO's default; the weights must stay as trained.
        ov.save_model(model, str(scratch / "model.xml"), compress_to_fp16=False)
        for suffix in (".bin", ".xml"):
            os.chmod(scratch / f"model{suffix}", 0o644)
            os.replace(scratch / f"model{suffix}", path.with_suffix(suffix))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# --- choosing ------------------------------------------------------------------------


def engine_for(backbone, *, probe: np.ndarray):
    """The engine of a backbone (see engine_build), its IR cached by weights digest; INT8
    calibrated on collection images decoded as the backbone decodes them."""
    return engine_build(
        graph=backbone.graph,
        name=backbone.name,
        probe=probe,
        cache_key=backbone.engine_cache_key(),
        model_json=backbone.architecture(),
        pixels_of=backbone.pixels,
    )


def engine_build(
    *,
    graph,
    name: str,
    probe: np.ndarray,
    cache_key: str | None = None,
    model_json: str = "",
    pixels_of: Callable[[Path], np.ndarray] | None = None,
):
    """The engine the settings ask for, built and compiled for the probe's shape and dtype;
    with MUSES_INFERENCE=auto, TensorFlow when OpenVINO cannot run (said in the log).
    ``pixels_of`` decodes a calibration image (INT8 only)."""
    choice, precision = settings.MUSES_INFERENCE, settings.MUSES_PRECISION
    if choice == "tensorflow":
        if precision not in (AUTO, "fp32"):
            raise EngineUnavailable(
                f"MUSES_PRECISION={precision} needs OpenVINO; TensorFlow runs fp32 only."
            )
        return _announce(TensorFlowEngine(graph), name, "MUSES_INFERENCE")
    if choice == AUTO and precision in (AUTO, "fp32") and ADOPTED_PRECISIONS == {"fp32"}:
        # In fp32, OpenVINO was no faster than TensorFlow in bulk extraction on a 2-core
        # CPU (BENCHMARKS.md, 2026-12-01); its lead is bf16, which is not adopted.
        return _announce(TensorFlowEngine(graph), name, "fp32: the faster engine measured")
    try:
        chosen = openvino_precision(precision)
        engine = OpenVinoEngine(
            graph,
            input_shape=probe.shape,
            precision=chosen,
            cache_key=cache_key,
            model_json=model_json,
            calibration=calibration_of(chosen, pixels_of, name),
        )
        engine.run(probe[None])  # compile now: a failure falls back before any vector is made
    except Exception as exc:  # not installed, or cannot compile this network
        if choice == "openvino" or precision not in (AUTO, "fp32"):
            raise EngineUnavailable(f"OpenVINO cannot run {name}: {exc}") from exc
        return _announce(TensorFlowEngine(graph), name, f"OpenVINO unavailable: {exc}")
    reason = "MUSES_INFERENCE" if choice == "openvino" else "the faster engine in this precision"
    return _announce(engine, name, reason)


def openvino_precision(precision: str) -> str:
    openvino_core()  # raises EngineUnavailable when OpenVINO is not installed
    if precision == AUTO:
        if INT8 in ADOPTED_PRECISIONS and cpu_has_int8():
            return INT8
        return "bf16" if "bf16" in ADOPTED_PRECISIONS and cpu_has_bf16() else "fp32"
    if precision == "bf16" and not cpu_has_bf16():
        raise EngineUnavailable("MUSES_PRECISION=bf16 but this CPU has no bf16 kernels")
    if precision == INT8 and not cpu_has_int8():
        raise EngineUnavailable("MUSES_PRECISION=int8 but this CPU has no int8 kernels")
    return precision


def calibration_of(precision: str, pixels_of, name: str) -> Calibration | None:
    if precision != INT8:
        return None
    if pixels_of is None:
        raise EngineUnavailable(f"MUSES_PRECISION=int8: {name} has no calibration path")
    return calibration_for(pixels_of)


def _announce(engine, name: str, reason: str):
    logger.info("inference: %s %s for %s (%s)", engine.name, engine.precision, name, reason)
    return engine
