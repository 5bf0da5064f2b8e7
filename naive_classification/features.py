"""Base features computed once, for the transfer phase.

While the base is frozen its output for a given input never changes, so running it again every
epoch is wasted work (84 s against 0.26 s per epoch for VGG19 at 128 px). Instead each training
image is seen in ``views`` versions (the plain image and ``views - 1`` augmented ones), the base
runs once per version, and every epoch the head trains on one randomly chosen version per image.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from naive_classification.data import SplitData, image_stream

DEFAULT_VIEWS = 4


class BaseFeatures:
    """preprocess + base of an assembled model as one compiled inference function, run by
    the backbones' inference engine (OpenVINO where it runs, muses.vision.inference).
    The engine holds the weights it was compiled with: ``forget`` once they change."""

    def __init__(self, model):
        self.model = model
        self._engine = None

    def __call__(self, pixels) -> np.ndarray:
        return self.engine.run(np.asarray(pixels, np.float32))

    @property
    def engine(self):
        if self._engine is None:
            from muses.vision.inference import engine_build

            preprocess, base = self.model.get_layer("preprocess"), self.model.get_layer("base")
            probe = np.zeros(self.model.input_shape[1:], np.float32)
            self._engine = engine_build(
                graph=lambda x: base(preprocess(x), training=False),
                name=f"the frozen base of {self.model.name}",
                probe=probe,
            )
        return self._engine

    def forget(self) -> None:
        self._engine = None


def feature_function(model) -> BaseFeatures:
    return BaseFeatures(model)


def extract_views(
    features_of,
    data: SplitData,
    size: int,
    *,
    views: int = 1,
    augmenter=None,
    batch_size: int = 32,
    progress: bool = True,
    desc: str = "Base features",
    trim: bool = False,
) -> np.ndarray:
    """(views, N, D) float32: view 0 is the plain image, the others augmented; images are
    decoded once for all their views (letterbox repainted with ``trim``). ``data`` must not
    be empty."""
    if not len(data):
        raise ValueError("no images to extract features from")
    if views > 1 and augmenter is None:
        raise ValueError("augmented views need an augmenter")
    import tensorflow as tf

    # Augmentation is TensorFlow's; the base runs on the inference engine.
    augment = tf.function(lambda x: augmenter(x, training=True), reduce_retracing=True)
    chunks: list[list[np.ndarray]] = [[] for _ in range(views)]
    stream = image_stream(data, size, batch_size, trim=trim)
    with tqdm(total=len(data) * views, desc=desc, unit="view", disable=not progress) as bar:
        for pixels, _labels in stream:
            for view in range(views):
                batch = pixels if view == 0 else augment(pixels)
                chunks[view].append(np.asarray(features_of(batch), np.float32))
                bar.update(int(pixels.shape[0]))
    return np.stack([np.concatenate(chunk) for chunk in chunks])


def view_stream(
    views: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    *,
    weights: np.ndarray | None = None,
    seed: int | None = None,
):
    """A tf.data pipeline of (features, label[, weight]) batches over cached views: shuffled
    every epoch, and each image in a randomly chosen view."""
    import tensorflow as tf

    table = tf.constant(views)
    count = views.shape[0]
    columns = (np.arange(views.shape[1], dtype=np.int32), labels)
    if weights is not None:
        columns = (*columns, weights.astype(np.float32))
    dataset = tf.data.Dataset.from_tensor_slices(columns)
    dataset = dataset.shuffle(views.shape[1], seed=seed, reshuffle_each_iteration=True)

    @tf.autograph.experimental.do_not_convert  # plain tensor code: nothing to convert
    def gather(index, *rest):
        chosen = tf.random.uniform(tf.shape(index), 0, count, dtype=tf.int32, seed=seed)
        return (tf.gather_nd(table, tf.stack([chosen, index], axis=1)), *rest)

    return dataset.batch(batch_size).map(gather).prefetch(-1)
