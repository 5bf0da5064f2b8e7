"""The naive classifier: a pretrained CNN base with a small head, trained by transfer learning
and then fine-tuning on the dataset the naive exporter wrote.

Usage follows the seed (``docs/specs/naive-classification.rst``)::

    c = setup_classifier((128, 128))          # VGG19, frozen base
    c.unfreeze_layers(0)
    c.train_model(30, weighted=True, save=True, model_name="new_model")
    c.unfreeze_layers(4)                      # the top of the base; BatchNorm stays frozen
    c.set_optimizer(lr=0.00005, decay=0)
    c.train_model(20, weighted=True, save=True, model_name="new_model_finetuned")
    c.plot_performance("plots/new_model")

With the base frozen (``unfreeze_layers(0)``) training runs the base once per image view and
trains the head on the cached features (see ``features.py``); with layers unfrozen it streams
augmented images through the whole model.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from django.conf import settings

from exporters.dataset import manifest_digest
from naive_classification import definitions
from naive_classification.data import (
    AUGMENTATION,
    AUGMENTATIONS,
    SplitData,
    balanced_class_weights,
    build_augmenter,
    check_augmentation,
    image_stream,
    pixel_batches,
    read_splits,
    sample_weights,
)
from naive_classification.definitions import LABEL_SMOOTHING, square_target_size
from naive_classification.features import (
    DEFAULT_VIEWS,
    extract_views,
    feature_function,
    view_stream,
)
from naive_classification.persistence import (
    check_classes,
    configured_model_value,
    load_model_file,
    model_path_for,
    read_metadata,
    resolve_model_path,
    save_model_file,
)
from naive_classification.reports import (
    Evaluation,
    evaluate_predictions,
    plot_confusion,
    plot_history,
)

logger = logging.getLogger(__name__)

MODEL_TYPES = tuple(definitions.MODEL_BUILDERS)
WEIGHTS_CHOICES = ("imagenet", None)
TRANSFER_LEARNING_RATE = 1e-3
FINE_TUNING_LEARNING_RATE = 5e-5
BATCH_SIZE = 32
# Predictions average the probabilities of an image and of its mirror image (test-time
# augmentation): museum objects face either way, and training sees both through the random
# flip. Evaluation, predict_new, the helpers and muses_classify all do it.
TEST_TIME_FLIP = True
DEFAULT_SIZE = (128, 128)  # the seed's size
# Black letterbox bars repainted in each picture's own background colour before training and
# predicting: the shared collection was padded to squares, a museum's own photographs are not.
REPAINT_LETTERBOX = False
TRANSFER, FINE_TUNING = "transfer", "fine-tuning"


class NotReady(RuntimeError):
    """A step called before the one it needs (training before data, predicting before a
    model); the message names the missing step."""


def check_model_type(model_type: str) -> str:
    if model_type not in MODEL_TYPES:
        raise ValueError(
            f"Unknown model type {model_type!r}; choose one of: {', '.join(MODEL_TYPES)}"
        )
    return model_type


def check_weights(weights: str | None) -> str | None:
    if weights not in WEIGHTS_CHOICES:
        raise ValueError(f"weights must be 'imagenet' or None, not {weights!r}")
    return weights


class MusesClassifier:
    """Learned state ends in ``_`` (``history_``, ``unfrozen_layers_``, ``evaluation_``);
    ``weights`` holds the class weights computed from the training counts."""

    def __init__(
        self,
        target_size=DEFAULT_SIZE,
        model_type: str = "vgg",
        weights: str | None = "imagenet",
        *,
        dataset_dir: str | Path | None = None,
        batch_size: int = BATCH_SIZE,
        views: int = DEFAULT_VIEWS,
        seed: int | None = 0,
        progress: bool = True,
        test_time_flip: bool = TEST_TIME_FLIP,
        label_smoothing: float = LABEL_SMOOTHING,
        augmentation: str = AUGMENTATION,
        repaint_letterbox: bool = REPAINT_LETTERBOX,
    ):
        self.target_size = square_target_size(target_size)
        self.model_type = check_model_type(model_type)
        self.base_weights = check_weights(weights)
        self.dataset_dir = Path(dataset_dir or settings.MUSES_DATASET_DIR)
        self.batch_size = batch_size
        self.views = max(1, int(views))
        self.seed = seed
        self.progress = progress
        self.test_time_flip = bool(test_time_flip)
        self.label_smoothing = float(label_smoothing)
        self.augmentation = check_augmentation(augmentation)
        self.repaint_letterbox = bool(repaint_letterbox)
        self.classes_ = dict(definitions.classes)
        self.class_names = definitions.class_names()
        self.learning_rate = TRANSFER_LEARNING_RATE
        self.decay = 0.0
        self.model = None
        self.on_epoch = None  # called after every epoch of a fit (a job's progress)
        self.splits: dict[str, SplitData] | None = None
        self.weights: dict[int, float] = {}
        self.unfrozen_layers_ = 0
        self.history_: list[dict] = []
        self.evaluation_: Evaluation | None = None
        self.model_path_: Path | None = None
        self._augmenter = None
        self._features_of = None
        self._head_trainer = None
        self._predict = None
        self._cache: dict[str, np.ndarray] = {}

    # --- setting up ----------------------------------------------------------------

    @property
    def size(self) -> int:
        return self.target_size[0]

    def load_data(self) -> MusesClassifier:
        """Read the exported dataset's splits and compute the class weights."""
        self.splits = read_splits(self.dataset_dir, self.classes_)
        if not len(self.splits["train"]):
            raise NotReady(f"The dataset in {self.dataset_dir} has no training images")
        self.weights = balanced_class_weights(self.splits["train"].labels, len(self.class_names))
        self._cache.clear()
        return self

    def create_model(self) -> MusesClassifier:
        """A fresh model from the definitions, base frozen, compiled."""
        import keras

        if self.seed is not None:
            keras.utils.set_random_seed(self.seed)
        build = definitions.MODEL_BUILDERS[self.model_type]
        self.model = build(self.target_size, len(self.class_names), weights=self.base_weights)
        self._after_new_model()
        self.unfreeze_layers(0)
        return self

    def _after_new_model(self) -> None:
        import keras
        import tensorflow as tf

        model = self.model
        self._features_of = feature_function(model)
        # The transfer phase trains the head through a wrapper sharing its layers: compiling
        # the nested head itself would save its optimizer inside the model file.
        head = model.get_layer("head")
        self._head_trainer = keras.Model(head.inputs, head.outputs, name="head_trainer")
        self._predict = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        self._cache.clear()

    def _require_model(self):
        if self.model is None:
            raise NotReady("No model yet: call create_model() or load_model(path) first")
        return self.model

    def _require_data(self) -> dict[str, SplitData]:
        if self.splits is None:
            raise NotReady("No data yet: call load_data() first (after exporting a dataset)")
        return self.splits

    # --- freezing and optimising ---------------------------------------------------

    def unfreezable_layers(self) -> list:
        """Base layers with weights, bottom to top, BatchNormalization excluded: it keeps
        its ImageNet statistics, as the keras-io fine-tuning guide advises."""
        import keras

        base = self._require_model().get_layer("base")
        return [
            layer
            for layer in base.layers
            if layer.weights and not isinstance(layer, keras.layers.BatchNormalization)
        ]

    def unfreeze_layers(self, n: int) -> MusesClassifier:
        """Make the top ``n`` weighted layers of the base trainable (0 freezes it all), then
        recompile."""
        candidates = self.unfreezable_layers()
        if not 0 <= n <= len(candidates):
            raise ValueError(f"n must be between 0 and {len(candidates)}, not {n}")
        base = self.model.get_layer("base")
        base.trainable = n > 0
        for layer in base.layers:
            layer.trainable = False
        for layer in candidates[len(candidates) - n :]:
            layer.trainable = True
        self.unfrozen_layers_ = n
        self._compile()
        return self

    def set_optimizer(self, lr: float = FINE_TUNING_LEARNING_RATE, decay: float = 0.0):
        """Adam at ``lr``; ``decay`` > 0 lowers it as lr / (1 + decay * step), the old Keras
        ``decay`` argument the seed used. Recompiles."""
        if lr <= 0 or decay < 0:
            raise ValueError(f"lr must be positive and decay not negative (lr={lr}, decay={decay})")
        self.learning_rate, self.decay = float(lr), float(decay)
        if self.model is not None:
            self._compile()
        return self

    def _optimizer(self):
        import keras

        rate = self.learning_rate
        if self.decay:
            rate = keras.optimizers.schedules.InverseTimeDecay(rate, 1, self.decay)
        return keras.optimizers.Adam(rate)

    def _compile(self) -> None:
        import keras

        from naive_classification.losses import SmoothedSparseCrossentropy

        for model in (self.model, self._head_trainer):
            model.compile(
                optimizer=self._optimizer(),
                loss=SmoothedSparseCrossentropy(len(self.class_names), self.label_smoothing),
                metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            )

    # --- training ------------------------------------------------------------------

    def train_model(
        self,
        num_epochs: int,
        weighted: bool = False,
        save: bool = False,
        model_name: str | None = None,
    ) -> dict:
        """Train for ``num_epochs``: the head on cached features while the base is frozen,
        the whole model otherwise. Evaluates on the test split; returns the history."""
        self._require_model()
        splits = self._require_data()
        if num_epochs < 1:
            raise ValueError(f"num_epochs must be at least 1, not {num_epochs}")
        frozen = self.unfrozen_layers_ == 0
        train_weights = self.weights if weighted else None
        fit = self._fit_head if frozen else self._fit_full
        history = fit(splits, num_epochs, train_weights)
        self.history_.append(
            {
                "phase": TRANSFER if frozen else FINE_TUNING,
                "epochs": num_epochs,
                "unfrozen_layers": self.unfrozen_layers_,
                "weighted": weighted,
                "learning_rate": self.learning_rate,
                "history": {k: [float(v) for v in values] for k, values in history.items()},
            }
        )
        self._evaluate_after_training(model_name)
        if save:
            self.save_model(model_name)
        return history

    def _fit_head(self, splits, epochs: int, class_weights) -> dict:
        from naive_classification.callbacks import EpochProgress

        train = splits["train"]
        views = self._training_views()
        stream = view_stream(
            views,
            train.labels,
            self.batch_size,
            weights=sample_weights(train.labels, class_weights),
            seed=self.seed,
        )
        validation = None
        if len(splits["validation"]):
            validation = (self._cached_eval("validation")[0], splits["validation"].labels)
        result = self._head_trainer.fit(
            stream,
            shuffle=False,  # the stream shuffles itself
            epochs=epochs,
            validation_data=validation,
            verbose=0,
            callbacks=[EpochProgress(epochs, "Transfer epochs", self.progress, self.on_epoch)],
        )
        return result.history

    def _fit_full(self, splits, epochs: int, class_weights) -> dict:
        from naive_classification.callbacks import EpochProgress

        train = splits["train"]
        stream = image_stream(
            train,
            self.size,
            self.batch_size,
            augmenter=self.augmenter,
            shuffle=True,
            weights=sample_weights(train.labels, class_weights),
            seed=self.seed,
            trim=self.repaint_letterbox,
        )
        validation = None
        if len(splits["validation"]):
            validation = image_stream(
                splits["validation"], self.size, self.batch_size, trim=self.repaint_letterbox
            )
        try:
            result = self.model.fit(
                stream,
                shuffle=False,  # the stream shuffles itself
                epochs=epochs,
                validation_data=validation,
                verbose=0,
                callbacks=[
                    EpochProgress(epochs, "Fine-tuning epochs", self.progress, self.on_epoch)
                ],
            )
        finally:
            self._cache.clear()  # the base changed: its cached features are stale
            self._features_of.forget()  # and so is the engine compiled from its weights
        return result.history

    @property
    def augmenter(self):
        if self._augmenter is None:
            self._augmenter = build_augmenter(self.seed, self.augmentation)
        return self._augmenter

    def _cached(self, split: str, views: int = 1, augmenter=None) -> np.ndarray:
        """(views, N, D) base features of a split, computed once while the base is frozen."""
        augmenter = augmenter or (self.augmenter if views > 1 else None)
        kind = getattr(augmenter, "name", getattr(augmenter, "__name__", None))
        key = f"{split}:{views}:{kind}"
        if key not in self._cache:
            self._cache[key] = extract_views(
                self._features_of,
                self._require_data()[split],
                self.size,
                views=views,
                augmenter=augmenter,
                batch_size=self.batch_size,
                progress=self.progress,
                trim=self.repaint_letterbox,
                desc=f"Base features ({split}, {views} view{'s' if views > 1 else ''})",
            )
        return self._cache[key]

    def _training_views(self) -> np.ndarray:
        """The transfer phase's views of the training images: with the "mirror" augmentation
        the image and its mirror image (the features flip-averaged predictions use too),
        otherwise the plain image and ``views - 1`` random augmentations."""
        if self.augmentation == "mirror":
            return self._cached("train", views=2, augmenter=mirror)
        return self._cached("train", views=self.views)

    def _cached_eval(self, split: str) -> np.ndarray:
        """(1, N, D) plain base features of a split, or (2, N, D) plain and mirrored ones
        when predictions average the image and its mirror image."""
        if not self.test_time_flip:
            return self._cached(split)
        return self._cached(split, views=2, augmenter=mirror)

    # --- evaluation and plots ------------------------------------------------------

    def evaluate(self, split: str = "test") -> Evaluation:
        """Accuracy, per-class precision/recall and the confusion matrix on ``split``."""
        probabilities = self.split_probabilities(split)
        data = self.splits[split]
        return evaluate_predictions(data.labels, probabilities, self.class_names, split)

    def split_probabilities(self, split: str = "test") -> np.ndarray:
        """(N, classes) class probabilities of a split's images, as predictions make them."""
        data = self._require_data()[split]
        if not len(data):
            raise NotReady(f"The {split} split is empty")
        if self.unfrozen_layers_ == 0:
            views = self._cached_eval(split)
            return np.mean(
                [np.asarray(self._head_trainer.predict(v, verbose=0)) for v in views], axis=0
            )
        stream = image_stream(data, self.size, self.batch_size, trim=self.repaint_letterbox)
        return np.concatenate([self.predict_pixels(pixels) for pixels, _labels in stream])

    def _evaluate_after_training(self, model_name: str | None) -> None:
        if not len(self.splits["test"]):
            logger.warning("no test images: skipping the evaluation")
            return
        self.evaluation_ = self.evaluate("test")
        logger.info(
            "test split after %s:\n%s", self.history_[-1]["phase"], self.evaluation_.table()
        )
        name = model_name or f"{self.model_type}_latest"
        plot_confusion(self.evaluation_, Path(settings.MUSES_PLOT_DIR) / f"{name}_confusion")

    def plot_performance(self, filepath: str | Path | None = None) -> Path:
        """Accuracy and loss curves (train vs validation, every phase so far) as a PNG;
        by default in MUSES_PLOT_DIR."""
        if not self.history_:
            raise NotReady("Nothing to plot: train the model first")
        name = self.model_path_.stem if self.model_path_ else f"{self.model_type}_latest"
        return plot_history(self.history_, filepath or Path(settings.MUSES_PLOT_DIR) / name)

    # --- saving and loading --------------------------------------------------------

    def metadata(self) -> dict:
        digest = None
        if self.splits is not None:
            digest = manifest_digest(self.dataset_dir)
        return {
            "classes": self.classes_,
            "class_names": self.class_names,
            "target_size": list(self.target_size),
            "model_type": self.model_type,
            "base_weights": self.base_weights,
            "unfrozen_layers": self.unfrozen_layers_,
            "history": self.history_,
            "recipe": self.recipe(),
            "dataset_manifest_sha256": digest,
            "evaluation": self.evaluation_.to_dict() if self.evaluation_ else None,
            "saved": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def recipe(self) -> dict:
        """The training and prediction choices, saved in the model's description (and read
        back by ``load_model``: predictions prepare images as training did)."""
        return {
            "augmentation": self.augmentation,
            "cached_views": 2 if self.augmentation == "mirror" else self.views,
            "repaint_letterbox": self.repaint_letterbox,
            "label_smoothing": self.label_smoothing,
            "test_time_flip": self.test_time_flip,
            "fine_tuning_learning_rate": self.learning_rate if self.unfrozen_layers_ else None,
            "batch_normalization": "frozen",
            "head": {"units": definitions.HEAD_UNITS, "dropout": definitions.HEAD_DROPOUT},
        }

    def save_model(self, model_name: str | None = None) -> Path:
        """Save to MUSES_MODEL_DIR/<model_name>.keras (a timestamped name by default)."""
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        path = model_path_for(model_name or f"naive_{self.model_type}_{stamp}")
        save_model_file(self._require_model(), path, self.metadata())
        self.model_path_ = path
        logger.info("saved %s", path)
        return path

    def load_model(self, filepath: str | os.PathLike) -> MusesClassifier:
        """Load a saved model, whatever layers it had unfrozen; its target size and model
        type replace this classifier's. Fails if its classes differ from the definitions."""
        path = resolve_model_path(filepath)
        metadata = read_metadata(path)
        check_classes(metadata, self.classes_, path)
        self.model = load_model_file(path)
        self.target_size = square_target_size(tuple(metadata["target_size"]))
        self.model_type = metadata.get("model_type", self.model_type)
        self.history_ = list(metadata.get("history", []))
        recipe = metadata.get("recipe", {})  # models saved before it had none
        self.repaint_letterbox = bool(recipe.get("repaint_letterbox", False))
        if recipe.get("augmentation") in AUGMENTATIONS:  # what fine-tuning it further uses
            self.augmentation, self._augmenter = recipe["augmentation"], None
        self.model_path_ = path
        self._after_new_model()
        self.unfreeze_layers(int(metadata.get("unfrozen_layers", 0)))
        return self

    # --- predicting ----------------------------------------------------------------

    def predict_new(self, path_or_paths) -> np.ndarray:
        """Class probabilities (ordered as ``class_names``) for one image path, or one row
        per path for a list of paths."""
        self._require_model()
        single = isinstance(path_or_paths, (str, os.PathLike))
        paths = [path_or_paths] if single else [str(p) for p in path_or_paths]
        if not paths:
            return np.zeros((0, len(self.class_names)), np.float32)
        rows = [
            self.predict_pixels(batch)
            for _start, batch in pixel_batches(
                paths, self.size, self.batch_size, trim=self.repaint_letterbox
            )
        ]
        probabilities = np.concatenate(rows)
        return probabilities[0] if single else probabilities

    def predict_pixels(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities for a float32 (N, S, S, 3) batch of 0..255 RGB pixels: the mean over
        each image and its mirror image when ``test_time_flip`` is on."""
        self._require_model()
        pixels = np.asarray(batch, np.float32)
        probabilities = np.asarray(self._predict(pixels))
        if self.test_time_flip:
            mirrored = np.ascontiguousarray(pixels[:, :, ::-1, :])
            probabilities = (probabilities + np.asarray(self._predict(mirrored))) / 2
        return probabilities


def mirror(pixels, training: bool = True):
    """A batch of (N, H, W, C) images flipped left to right: an "augmenter" for the
    mirrored view of test-time augmentation."""
    import tensorflow as tf

    return tf.reverse(pixels, axis=[2])


def setup_classifier(
    target_size=DEFAULT_SIZE,
    mode: str = "train",
    model_path: str | os.PathLike | None = None,
    model_type: str = "vgg",
    weights: str | None = "imagenet",
    **options,
) -> MusesClassifier:
    """A classifier ready to train (data loaded, fresh model) or to predict (model loaded
    from ``model_path``, by default MUSES_CONFIG's configured model; a loaded model keeps the
    target size it was trained at, and ``target_size=None`` says so)."""
    if mode == "train":
        classifier = MusesClassifier(target_size, model_type, weights, **options)
        return classifier.load_data().create_model()
    if mode == "load":
        path = model_path or configured_model_path()
        classifier = MusesClassifier(target_size or DEFAULT_SIZE, model_type, weights, **options)
        classifier.load_model(path)
        if target_size and classifier.target_size != square_target_size(target_size):
            logger.info("%s was trained at %s: using that size", path, classifier.target_size)
        return classifier
    raise ValueError(f"mode must be 'train' or 'load', not {mode!r}")


def configured_model_path() -> str:
    path = configured_model_value()
    if not path:
        raise NotReady(
            "No model configured: pass model_path, or set MUSES_NAIVE_MODEL_PATH "
            "(MUSES_CONFIG['classification']['naive_classification']['model_path'])"
        )
    return path
