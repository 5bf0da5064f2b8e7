"""The training recipe: letterbox repainting, photographic augmentation, and the recipe saved
in the model's description."""

import json
import zipfile

import numpy as np
import pytest
from PIL import Image as PILImage

from naive_classification.data import build_augmenter, load_pixels, trim_letterbox
from naive_classification.muses_cnn import MusesClassifier, setup_classifier
from tests.naive_classification.conftest import TINY

BACKGROUND = (200, 180, 150)


def letterboxed(path, size=(60, 40), bar=20):
    """A picture on a warm background, padded to a square with black bars above and below."""
    canvas = PILImage.new("RGB", (size[0], size[1] + 2 * bar), (0, 0, 0))
    picture = PILImage.new("RGB", size, BACKGROUND)
    picture.paste((40, 90, 160), (25, 15, 35, 25))  # the object
    canvas.paste(picture, (0, bar))
    canvas.save(path)
    return path


def test_it_repaints_black_letterbox_bars_in_the_pictures_own_background(tmp_path):
    pixels = load_pixels(letterboxed(tmp_path / "boxed.png"), 64, trim=True)
    assert pixels.shape == (64, 64, 3)
    assert pixels.max(axis=2).min() > 100  # no black left anywhere
    assert tuple(pixels[0, 0]) == BACKGROUND and tuple(pixels[-1, -1]) == BACKGROUND
    # Repainting pads, it does not crop: the whole object is still there, centred.
    assert (np.abs(pixels.astype(int) - (40, 90, 160)).sum(axis=2) < 30).sum() > 20


def test_without_repainting_the_bars_stay(tmp_path):
    pixels = load_pixels(letterboxed(tmp_path / "boxed.png"), 64)
    assert pixels[0].max() < 10


def test_a_picture_without_bars_or_all_black_is_not_trimmed():
    plain = PILImage.new("RGB", (30, 20), BACKGROUND)
    black = PILImage.new("RGB", (30, 20), (0, 0, 0))
    assert trim_letterbox(plain).size == (30, 20)
    assert trim_letterbox(black).size == (30, 20)


def uniform_batch(count=8, colour=(120.0, 90.0, 60.0)):
    return np.tile(np.array(colour, np.float32), (count, TINY, TINY, 1))


def test_the_photographic_augmentation_changes_colours_and_the_geometric_one_does_not():
    pixels = uniform_batch()
    geometric = np.asarray(build_augmenter(0, "geometric")(pixels, training=True))
    photographic = np.asarray(build_augmenter(0, "photographic")(pixels, training=True))
    np.testing.assert_allclose(geometric, pixels, atol=1e-3)
    mean_colours = photographic.mean(axis=(1, 2))
    assert np.abs(mean_colours - pixels.mean(axis=(1, 2))).max() > 5
    assert photographic.min() >= 0 and photographic.max() <= 255


def test_an_unknown_augmentation_is_refused_naming_the_choices(tiny_dataset):
    with pytest.raises(ValueError, match="geometric, photographic"):
        MusesClassifier((TINY, TINY), "vgg", None, dataset_dir=tiny_dataset, augmentation="x")


def test_a_saved_model_describes_its_recipe_and_predicts_as_it_was_trained(tiny_dataset, tmp_path):
    c = setup_classifier(
        (TINY, TINY),
        weights=None,
        dataset_dir=tiny_dataset,
        views=2,
        progress=False,
        augmentation="photographic",
        repaint_letterbox=True,
    )
    path = c.save_model("recipe")
    with zipfile.ZipFile(path) as archive:
        recipe = json.loads(archive.read("muses.json"))["recipe"]
    assert recipe["augmentation"] == "photographic"
    assert recipe["repaint_letterbox"] is True
    assert recipe["cached_views"] == 2
    assert recipe["test_time_flip"] is True and recipe["label_smoothing"] == 0.1

    loaded = setup_classifier(None, mode="load", model_path=path, progress=False)
    assert loaded.repaint_letterbox and loaded.augmentation == "photographic"
    image = letterboxed(tmp_path / "boxed.png")
    repainted = load_pixels(image, TINY, trim=True)[None].astype(np.float32)
    np.testing.assert_allclose(
        loaded.predict_new(str(image)), loaded.predict_pixels(repainted)[0], atol=1e-6
    )


def test_by_default_the_transfer_phase_trains_on_each_image_and_its_mirror_image(tiny_dataset):
    c = MusesClassifier((TINY, TINY), "vgg", None, dataset_dir=tiny_dataset, progress=False)
    c.load_data().create_model()
    views = c._training_views()
    train = c.splits["train"]
    pixels = np.stack([load_pixels(p, TINY) for p in train.paths]).astype(np.float32)
    np.testing.assert_allclose(views[0], c._features_of(pixels), rtol=1e-4, atol=1e-4)
    mirrored = np.ascontiguousarray(pixels[:, :, ::-1, :])
    np.testing.assert_allclose(views[1], c._features_of(mirrored), rtol=1e-4, atol=1e-4)
    assert views.shape[0] == 2 and c.recipe()["augmentation"] == "mirror"


def test_the_random_augmentations_train_on_as_many_views_as_asked(tiny_dataset):
    c = MusesClassifier(
        (TINY, TINY),
        "vgg",
        None,
        dataset_dir=tiny_dataset,
        progress=False,
        views=3,
        augmentation="geometric",
    )
    c.load_data().create_model()
    assert c._training_views().shape[0] == 3 and c.recipe()["cached_views"] == 3
