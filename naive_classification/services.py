"""Workflows of the naive classifier, called by commands and tasks."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from tqdm import tqdm

from muses.collection.decode import ImageDecodeError
from muses.collection.media import local_image_files
from muses.collection.models import Image
from naive_classification import definitions
from naive_classification.data import load_pixels
from naive_classification.muses_cnn import FINE_TUNING_LEARNING_RATE, setup_classifier
from naive_classification.reports import Evaluation

logger = logging.getLogger(__name__)

# The seed's example splits 50 epochs into 30 transfer and 20 fine-tuning epochs.
TRANSFER_SHARE = 0.6
CLASSIFY_BATCH = 64


@dataclass
class TrainingResult:
    model_path: Path
    evaluation: Evaluation | None
    plots: list[Path] = field(default_factory=list)


def epochs_split(*, epochs: int, fine_tuning: bool) -> tuple[int, int]:
    """(transfer epochs, fine-tuning epochs)."""
    if not fine_tuning:
        return epochs, 0
    if epochs < 2:
        raise ValueError("fine-tuning needs at least 2 epochs: 1 transfer and 1 fine-tuning")
    transfer = min(epochs - 1, max(1, round(epochs * TRANSFER_SHARE)))
    return transfer, epochs - transfer


def classifier_train(
    *,
    model_name: str,
    epochs: int,
    fine_tuning: bool = False,
    model_type: str = "vgg",
    target_size: int = 128,
    weights: str | None = "imagenet",
    plot_performance: bool = False,
    progress: bool = True,
    on_progress: Callable[[float], None] | None = None,
) -> TrainingResult:
    """Transfer learning, then (optionally) fine-tuning of the top of the base, with class
    weights; saves one model named ``model_name`` and, if asked, its plots.
    ``on_progress`` hears the share of epochs done (raising there saves nothing)."""
    transfer_epochs, fine_epochs = epochs_split(epochs=epochs, fine_tuning=fine_tuning)
    classifier = setup_classifier(
        (target_size, target_size), model_type=model_type, weights=weights, progress=progress
    )
    if on_progress is not None:
        classifier.on_epoch = _epoch_counter(epochs, on_progress)
    classifier.unfreeze_layers(0)
    classifier.train_model(transfer_epochs, weighted=True, model_name=model_name)
    if fine_epochs:
        classifier.unfreeze_layers(definitions.FINE_TUNE_LAYERS[model_type])
        classifier.set_optimizer(lr=FINE_TUNING_LEARNING_RATE, decay=0)
        classifier.train_model(fine_epochs, weighted=True, model_name=model_name)
    path = classifier.save_model(model_name)
    plots = [Path(settings.MUSES_PLOT_DIR) / f"{model_name}_confusion.png"]
    if plot_performance:
        plots.insert(0, classifier.plot_performance(Path(settings.MUSES_PLOT_DIR) / model_name))
    return TrainingResult(path, classifier.evaluation_, [p for p in plots if p.exists()])


def _epoch_counter(epochs: int, on_progress: Callable[[float], None]) -> Callable[[], None]:
    done = [0]

    def epoch_done() -> None:
        done[0] += 1
        on_progress(0.95 * done[0] / epochs)  # saving the model is the rest

    return epoch_done


@dataclass
class ClassifyReport:
    classified: int = 0
    failed: int = 0


def collection_images():
    return Image.objects.filter(item__isnull=False).order_by("id")


def collection_classify(
    *,
    model_path: str | os.PathLike | None = None,
    batch_size: int = CLASSIFY_BATCH,
    progress: bool = True,
) -> ClassifyReport:
    """Store the predicted class and its probability on every collection image, a batch at
    a time (one forward pass and one UPDATE per batch)."""
    from naive_classification.helpers import classifier_for

    classifier = classifier_for(model_path)
    report = ClassifyReport()
    images = collection_images()
    with tqdm(total=images.count(), desc="Classifying", unit="image", disable=not progress) as bar:
        batch: list[Image] = []
        for image in images.iterator(chunk_size=1000):
            batch.append(image)
            if len(batch) == batch_size:
                _classify_batch(classifier, batch, report, bar)
                batch = []
        if batch:
            _classify_batch(classifier, batch, report, bar)
    return report


def _classify_batch(classifier, images: list[Image], report: ClassifyReport, bar) -> None:
    import numpy as np

    pixels, decoded = [], []
    with local_image_files(images) as paths:
        for image, path in zip(images, paths):
            try:
                pixels.append(load_pixels(path, classifier.size, trim=classifier.repaint_letterbox))
                decoded.append(image)
            except ImageDecodeError as exc:
                logger.warning("cannot classify image %s: %s", image.image_id, exc)
                report.failed += 1
    if decoded:
        batch = np.stack(pixels).astype(np.float32)
        probabilities = classifier.predict_pixels(batch)
        _store_predictions(decoded, probabilities, classifier.class_names)
        report.classified += len(decoded)
    bar.update(len(images))


def _store_predictions(images: list[Image], probabilities, class_names) -> None:
    for image, row in zip(images, probabilities):
        best = int(row.argmax())
        image.predicted_class = class_names[best]
        image.predicted_probability = float(row[best])
    with transaction.atomic():
        Image.objects.bulk_update(images, ["predicted_class", "predicted_probability"])


def curator_class_set(*, images, class_name: str) -> int:
    """Give images a curator's class (or clear it): it wins over the words in the next export."""
    if class_name and class_name not in definitions.classes:
        raise ValueError(f"{class_name!r} is not a class of naive_classification.definitions")
    return images.update(curator_class=class_name)
