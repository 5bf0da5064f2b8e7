"""Raw backbone throughput (batch 32, tensors only) against this machine's fp32 matmul peak:
every inference engine and precision side by side (each in a process of its own, rounds
interleaved), then the EfficientNet-Lite0 variants: plain Keras loop vs MUSES' paths, all
in one run.

    .venv/bin/python bench/backbone_throughput.py [--backbones efficientnet_lite0,vgg19]
        [--seconds 20] [--engines tensorflow:fp32,openvino:fp32,openvino:bf16] [--rounds 2]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "muses.settings")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import django  # noqa: E402

django.setup()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from django.conf import settings  # noqa: E402

from bench.engine_common import DEFAULT_DATA, engine_env, raw_rate  # noqa: E402
from muses.vision.backbones import get_backbone  # noqa: E402

BATCH = 32


def matmul_peak_gflops(size: int = 2048, repeats: int = 10) -> float:
    a = np.random.rand(size, size).astype(np.float32)
    b = np.random.rand(size, size).astype(np.float32)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def model_gflops(model: keras.Model) -> float:
    """Multiply-adds x 2 of the conv and dense layers, per image."""
    macs = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            _, h, w, c = layer.output.shape
            macs += h * w * c * layer.kernel_size[0] * layer.kernel_size[1]
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, cout = layer.output.shape
            cin = layer.input.shape[-1]
            macs += h * w * cout * cin * layer.kernel_size[0] * layer.kernel_size[1]
        elif isinstance(layer, keras.layers.Dense):
            macs += layer.input.shape[-1] * layer.units
    return 2 * macs / 1e9


def images_per_second(run, batch: np.ndarray, seconds: float) -> float:
    run(batch)  # warm-up: tracing, compilation
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run(batch)
        done += len(batch)
    return done / (time.perf_counter() - start)


def plain_model(backbone, weights):
    """The textbook Keras model: for Lite0, the network with its BatchNormalization layers."""
    if backbone.name != "efficientnet_lite0":
        return backbone.model
    from muses.vision import efficientnet_lite0

    return efficientnet_lite0.build_base(backbone.input_size, weights)


def variants(backbone, weights):
    """Each takes a uint8 pixel batch; the plain paths normalise it in numpy first, as the
    textbook recipe does, MUSES inside its traced graph."""
    plain = plain_model(backbone, weights)

    def norm(x):
        return np.asarray(backbone.normalize(x.astype(np.float32)), np.float32)

    tf_plain = tf.function(lambda x: plain(x, training=False))
    xla = tf.function(lambda x: backbone.model(x, training=False), jit_compile=True)
    return {
        "plain Keras model.predict": lambda x: plain.predict(norm(x), batch_size=BATCH, verbose=0),
        "tf.function, BN not folded": lambda x: tf_plain(tf.constant(norm(x))).numpy(),
        "MUSES extract (BN folded, tf.function)": lambda x: backbone.extract(x, batch_size=BATCH),
        "same + XLA jit_compile": lambda x: xla(tf.constant(norm(x))).numpy(),
    }


def sample_batch(backbone) -> np.ndarray:
    """The first BATCH images of the collection (random pixels where it is not here)."""
    files = sorted((DEFAULT_DATA / "images").glob("*.jpg"))[:BATCH]
    if len(files) < BATCH:
        shape = (BATCH, backbone.input_size, backbone.input_size, 3)
        return np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    return np.stack([backbone.pixels(path) for path in files])


def engine_worker(name: str, seconds: float, out: Path) -> None:
    """(in a child) this process's engine on one backbone: rates and the batch's vectors."""
    if name == "vgg19":
        keras.utils.set_random_seed(0)  # the same random weights in every process
    backbone = get_backbone(name, weights="imagenet" if name != "vgg19" else None)
    batch = sample_batch(backbone)
    features = backbone.extract(batch, batch_size=BATCH)
    one = images_per_second(lambda x: backbone.extract(x, batch_size=BATCH), batch, seconds)
    streams = settings.MUSES_NETWORK_STREAMS
    together, cpu_ms = raw_rate(backbone, BATCH, seconds, streams=streams)
    single = batch[:1]
    backbone.extract(single, batch_size=1)
    latency = []
    for _ in range(30):
        start = time.perf_counter()
        backbone.extract(single, batch_size=1)
        latency.append(time.perf_counter() - start)
    np.save(out.with_suffix(".npy"), features)
    figures = {"one": one, "streams": together, "cpu_ms": cpu_ms, "numerics": backbone.numerics}
    figures["latency_ms"] = statistics.median(latency) * 1000
    out.write_text(json.dumps(figures))


def compare_engines(name: str, specs: list[str], args, flops: float, peak: float) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="muses-bench-throughput-"))
    runs: dict[str, list[dict]] = {spec: [] for spec in specs}
    for round_index in range(args.rounds):
        for spec in specs:
            out = scratch / f"{spec.replace(':', '-')}-{round_index}.json"
            command = [sys.executable, __file__, "--worker", name, "--out", str(out)]
            command += ["--seconds", str(args.seconds)]
            env = {**os.environ, **engine_env(spec)}
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"{spec} failed:\n{done.stderr[-3000:]}")
            runs[spec].append(json.loads(out.read_text()))
    reference = np.load(scratch / f"{specs[0].replace(':', '-')}-0.npy")
    streams = settings.MUSES_NETWORK_STREAMS
    print(f"  engines, each in its own process, {args.rounds} round(s) interleaved (median):")
    base = statistics.median(r["streams"] for r in runs[specs[0]])
    for spec in specs:
        one = statistics.median(r["one"] for r in runs[spec])
        together = statistics.median(r["streams"] for r in runs[spec])
        cpu = statistics.median(r["cpu_ms"] for r in runs[spec])
        latency = statistics.median(r["latency_ms"] for r in runs[spec])
        features = np.load(scratch / f"{spec.replace(':', '-')}-0.npy")
        rel = np.abs(features - reference).max() / np.abs(reference).max()
        print(
            f"    {spec:22s} one pass {one:7.1f} img/s; {streams} at once {together:7.1f} img/s "
            f"({together / base:4.2f}x {specs[0]}, {together * flops / peak:5.1%} of peak, "
            f"{cpu:.2f} CPU ms/img); one image alone {latency:.1f} ms; "
            f"max rel diff vs {specs[0]} {rel:.1e}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbones", default="efficientnet_lite0,vgg19")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--engines", default="tensorflow:fp32,openvino:fp32,openvino:bf16")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-variants", action="store_true", help="Engines only.")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        engine_worker(args.worker, args.seconds, args.out)
        return
    specs = [s for s in args.engines.split(",") if s]
    peak = matmul_peak_gflops()
    print(f"fp32 matmul peak (numpy, 2048x2048): {peak:.0f} GFLOP/s")
    for name in args.backbones.split(","):
        # VGG19's speed does not depend on its weights, which need a download.
        weights = "imagenet" if name != "vgg19" else None
        backbone = get_backbone(name, weights=weights)
        flops = model_gflops(backbone.model)
        shape = (BATCH, backbone.input_size, backbone.input_size, 3)
        batch = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
        print(f"\n{name} at {backbone.input_size}px: {flops:.2f} GFLOP/image")
        if specs:
            compare_engines(name, specs, args, flops, peak)
        if args.no_variants:
            continue
        reference = None
        for label, run in variants(backbone, weights).items():
            rate = images_per_second(run, batch, args.seconds)
            out = np.asarray(run(batch))
            reference = out if reference is None else reference
            diff = float(np.abs(out - reference).max())
            print(
                f"  {label:45s} {rate:7.1f} img/s  {rate * flops / peak:5.1%} of peak  "
                f"max|diff| {diff:.1e}"
            )
        streams = settings.MUSES_NETWORK_STREAMS
        rate, _cpu_ms = raw_rate(backbone, BATCH, args.seconds, streams=streams)
        label = f"MUSES extract, {streams} batches at once"
        print(f"  {label:45s} {rate:7.1f} img/s  {rate * flops / peak:5.1%} of peak")


if __name__ == "__main__":
    main()
