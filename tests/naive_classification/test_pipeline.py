"""The seed's whole workflow at tiny size: export, transfer learning, fine-tuning, save, load,
predict and classify the collection (32 px, random weights, 1 + 1 epochs)."""

import io

import numpy as np
import pytest
from django.core.management import call_command

from muses.collection.models import Image
from muses.naive_classification.helpers import predict_image_path_dict, setup_classifier
from naive_classification.persistence import read_metadata
from tests.naive_classification.conftest import TINY

pytestmark = pytest.mark.django_db


def test_the_seed_workflow_runs_from_export_to_classified_collection(
    egyptian_items, settings, tmp_path
):
    settings.MUSES_DATASET_DIR = tmp_path / "dataset"
    call_command(
        "muses_export_classification_data", exporter="naive", stdout=io.StringIO(), verbosity=0
    )

    c = setup_classifier((TINY, TINY), weights=None, progress=False)
    c.unfreeze_layers(0)
    c.train_model(1, weighted=True, save=True, model_name="new_model")
    c.unfreeze_layers(4)
    c.set_optimizer(lr=0.00005, decay=0)
    c.train_model(1, weighted=True, save=True, model_name="new_model_finetuned")
    plot = c.plot_performance(tmp_path / "plots" / "new_model_finetuned")

    assert [phase["phase"] for phase in c.history_] == ["transfer", "fine-tuning"]
    assert c._cache == {}  # fine-tuning changed the base: its cached features are stale
    saved = read_metadata(c.model_path_)
    assert saved["unfrozen_layers"] == 4 and len(saved["history"]) == 2
    assert saved["recipe"]["augmentation"] == "mirror"  # the recipe chosen leaving a museum out
    assert saved["recipe"]["fine_tuning_learning_rate"] == 0.00005
    assert saved["evaluation"]["accuracy"] == c.evaluation_.accuracy
    assert plot.name == "new_model_finetuned.png" and plot.stat().st_size > 0
    assert (settings.MUSES_PLOT_DIR / "new_model_finetuned_confusion.png").exists()
    assert c.evaluation_.split == "test" and len(c.evaluation_.classes) == 10

    loaded = setup_classifier((TINY, TINY), mode="load", model_path=c.model_path_)
    paths = c.splits["test"].paths
    np.testing.assert_allclose(loaded.predict_new(paths), c.predict_new(paths), atol=1e-6)
    assert loaded.unfrozen_layers_ == 4

    prediction = predict_image_path_dict(paths[0], model_path="new_model_finetuned")
    assert list(prediction) == sorted(prediction, key=prediction.get, reverse=True)

    call_command(
        "muses_classify", model_path="new_model_finetuned", stdout=io.StringIO(), verbosity=0
    )
    classified = Image.objects.exclude(predicted_class="")
    assert classified.count() == len(egyptian_items)
    assert all(0 < image.predicted_probability <= 1 for image in classified)
