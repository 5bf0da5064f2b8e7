"""Raw backbone throughput (batch 32, tensors only) against this machine's fp32 matmul peak,
and the EfficientNet-Lite0 variants: plain Keras loop vs MUSES' paths, all in one run.

    .venv/bin/python bench/backbone_throughput.py [--backbones efficientnet_lite0,vgg19]
        [--seconds 20]
"""

import argparse
import os
import sys
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

from bench.bulk_extraction import raw_rate  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbones", default="efficientnet_lite0,vgg19")
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
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
