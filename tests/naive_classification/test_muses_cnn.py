"""MusesClassifier: freezing, cached transfer features, saving and loading."""

import json
import zipfile

import numpy as np
import pytest

from naive_classification import definitions, muses_cnn
from naive_classification.muses_cnn import MusesClassifier, NotReady, setup_classifier
from naive_classification.persistence import ClassMismatchError, ModelFileError
from tests.naive_classification.conftest import TINY


def classifier(tiny_dataset, model_type="vgg", **options) -> MusesClassifier:
    options = {"views": 2, "progress": False, **options}
    made = MusesClassifier((TINY, TINY), model_type, None, dataset_dir=tiny_dataset, **options)
    return made.load_data().create_model()


@pytest.fixture
def vgg(tiny_dataset):
    return classifier(tiny_dataset)


def trainable_names(c):
    return [layer.name for layer in c.model.get_layer("base").layers if layer.trainable]


def test_a_new_model_has_its_whole_base_frozen(vgg):
    assert vgg.unfrozen_layers_ == 0
    assert not vgg.model.get_layer("base").trainable


def test_unfreezing_opens_the_top_layers_of_the_base(vgg):
    vgg.unfreeze_layers(4)
    assert trainable_names(vgg) == ["block5_conv1", "block5_conv2", "block5_conv3", "block5_conv4"]


def test_unfreezing_keeps_batch_normalization_frozen(tiny_dataset):
    import keras

    lite0 = classifier(tiny_dataset, "efficientnet_lite0")
    lite0.unfreeze_layers(definitions.EFFICIENTNET_LITE0_FINE_TUNE_LAYERS)
    base = lite0.model.get_layer("base")
    trainable = [layer for layer in base.layers if layer.trainable]
    assert len(trainable) == definitions.EFFICIENTNET_LITE0_FINE_TUNE_LAYERS
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in trainable)
    assert lite0.model.output_shape == (None, len(definitions.classes))


def test_unfreezing_more_layers_than_the_base_has_is_refused(vgg):
    with pytest.raises(ValueError, match="between 0 and 16"):
        vgg.unfreeze_layers(17)


def test_the_transfer_phase_runs_the_base_once_per_view_not_every_epoch(vgg, monkeypatch):
    calls = []
    real = muses_cnn.extract_views

    def counting(features_of, data, size, **options):
        calls.append(options["desc"])
        return real(features_of, data, size, **options)

    monkeypatch.setattr(muses_cnn, "extract_views", counting)
    vgg.train_model(3)
    vgg.train_model(2)
    # validation and test: the image and its mirror image, for test-time flip averaging
    assert sorted(calls) == [
        "Base features (test, 2 views)",
        "Base features (train, 2 views)",
        "Base features (validation, 2 views)",
    ]
    assert [len(phase["history"]["loss"]) for phase in vgg.history_] == [3, 2]


def test_class_weights_come_from_the_training_counts(vgg):
    # one training image per class: every class weighs the same
    assert vgg.weights == {index: 1.0 for index in range(len(definitions.classes))}


def test_set_optimizer_with_decay_uses_an_inverse_time_schedule(vgg):
    import keras

    vgg.set_optimizer(lr=0.001, decay=0.5)
    schedule = vgg.model.optimizer.learning_rate
    assert isinstance(
        vgg.model.optimizer._learning_rate, keras.optimizers.schedules.InverseTimeDecay
    )
    assert float(schedule) == pytest.approx(0.001)


def test_a_saved_model_predicts_the_same_after_loading(vgg, tiny_dataset):
    path = vgg.save_model("round_trip")
    loaded = setup_classifier(None, mode="load", model_path=path)
    paths = vgg.splits["test"].paths
    np.testing.assert_allclose(loaded.predict_new(paths), vgg.predict_new(paths), atol=1e-6)
    assert loaded.target_size == (TINY, TINY)


def test_a_saved_model_loads_whatever_layers_it_had_unfrozen(vgg, tiny_dataset):
    vgg.unfreeze_layers(4)
    path = vgg.save_model("four_unfrozen")
    other = classifier(tiny_dataset)
    other.unfreeze_layers(0)
    other.load_model(path)
    assert other.unfrozen_layers_ == 4
    assert trainable_names(other) == trainable_names(vgg)


def test_the_model_file_holds_the_metadata(vgg):
    path = vgg.save_model("with_metadata")
    with zipfile.ZipFile(path) as archive:
        metadata = json.loads(archive.read("muses.json"))
    assert metadata["classes"] == definitions.classes
    assert metadata["target_size"] == [TINY, TINY]
    assert metadata["model_type"] == "vgg"
    assert metadata["unfrozen_layers"] == 0
    assert len(metadata["dataset_manifest_sha256"]) == 64
    assert metadata["history"] == [] and metadata["evaluation"] is None


def test_a_model_with_other_classes_fails_to_load_listing_both(vgg, monkeypatch):
    path = vgg.save_model("old_classes")
    monkeypatch.setattr(definitions, "classes", {"cat": 0, "dog": 1})
    with pytest.raises(ClassMismatchError) as error:
        MusesClassifier().load_model(path)
    message = str(error.value)
    assert "Model classes: 0=statuary, 1=shabti" in message
    assert "definitions: 0=cat, 1=dog" in message


def test_a_seed_style_h5_path_finds_the_keras_file(vgg):
    path = vgg.save_model("seed_style")
    loaded = MusesClassifier().load_model(path.with_suffix(".h5"))
    assert loaded.model_path_ == path


def test_a_file_that_is_not_a_muses_model_fails_to_load_clearly(tmp_path):
    bogus = tmp_path / "bogus.keras"
    bogus.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="not a model saved by MUSES"):
        MusesClassifier().load_model(bogus)


def test_a_missing_model_file_fails_to_load_clearly(tmp_path):
    with pytest.raises(ModelFileError, match="No model file at"):
        MusesClassifier().load_model(tmp_path / "nothing.keras")


def test_predict_new_gives_a_vector_for_one_path_and_rows_for_a_list(vgg):
    paths = vgg.splits["train"].paths[:3]
    one, rows = vgg.predict_new(paths[0]), vgg.predict_new(paths)
    assert one.shape == (10,) and rows.shape == (3, 10)
    assert rows.sum(axis=1) == pytest.approx([1, 1, 1], abs=1e-5)
    np.testing.assert_allclose(rows[0], one, atol=1e-6)


def test_training_before_loading_data_says_what_to_do():
    with pytest.raises(NotReady, match="call load_data"):
        MusesClassifier(weights=None).create_model().train_model(1)


def test_predicting_before_there_is_a_model_says_what_to_do():
    with pytest.raises(NotReady, match="create_model\\(\\) or load_model"):
        MusesClassifier().predict_new("image.jpg")


@pytest.mark.parametrize(
    "arguments,message",
    [
        ({"mode": "guess"}, "mode must be 'train' or 'load'"),
        ({"target_size": (16, 16)}, "32 to 1024 px"),
        ({"target_size": (64, 32)}, "must be square"),
        ({"model_type": "resnet"}, "choose one of: vgg, efficientnet_lite0"),
        ({"weights": "random"}, "weights must be 'imagenet' or None"),
    ],
)
def test_setup_classifier_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        setup_classifier(**{"target_size": (TINY, TINY), **arguments})


def test_setting_up_for_training_without_a_dataset_says_to_export_first(settings, tmp_path):
    settings.MUSES_DATASET_DIR = tmp_path / "none"
    with pytest.raises(FileNotFoundError, match="muses_export_classification_data"):
        setup_classifier((TINY, TINY), weights=None)


def plain_model_probabilities(c, pixels):
    return np.asarray(c.model(pixels, training=False))


def test_a_prediction_is_the_mean_over_the_image_and_its_mirror_image(vgg):
    pixels = np.random.default_rng(0).uniform(0, 255, (3, TINY, TINY, 3)).astype(np.float32)
    mirrored = pixels[:, :, ::-1, :].copy()
    expected = plain_model_probabilities(vgg, pixels) + plain_model_probabilities(vgg, mirrored)
    np.testing.assert_allclose(vgg.predict_pixels(pixels), expected / 2, atol=1e-6)


def test_an_image_and_its_mirror_image_get_the_same_prediction(vgg):
    pixels = np.random.default_rng(1).uniform(0, 255, (2, TINY, TINY, 3)).astype(np.float32)
    mirrored = pixels[:, :, ::-1, :].copy()
    np.testing.assert_allclose(vgg.predict_pixels(mirrored), vgg.predict_pixels(pixels), atol=1e-6)


def test_without_test_time_flip_a_prediction_is_the_plain_models(tiny_dataset):
    c = classifier(tiny_dataset, test_time_flip=False)
    pixels = np.random.default_rng(2).uniform(0, 255, (2, TINY, TINY, 3)).astype(np.float32)
    np.testing.assert_allclose(
        c.predict_pixels(pixels), plain_model_probabilities(c, pixels), atol=1e-6
    )


@pytest.mark.parametrize("unfrozen", [0, 4])
def test_the_evaluation_scores_the_same_predictions_users_get(vgg, unfrozen):
    vgg.unfreeze_layers(unfrozen)
    test = vgg.splits["test"]
    predicted = vgg.predict_new(test.paths).argmax(axis=1)
    evaluation = vgg.evaluate("test")
    assert evaluation.accuracy == pytest.approx(float((predicted == test.labels).mean()))
    confusion = np.zeros((10, 10), int)
    np.add.at(confusion, (test.labels, predicted), 1)
    assert evaluation.confusion == confusion.tolist()
