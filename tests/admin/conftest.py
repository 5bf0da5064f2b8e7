"""Fixtures for the admin: a logged-in curator, a small collection from three museums, the
numpy stand-in backbone of the custom-tagging tests, and a tag trained on red against blue."""

import pytest

from muses.collection.models import Item
from tests.custom_tagging.conftest import BLUE, GREEN, RED, TINY_INPUT, TINY_NAME, build_tiny, shade

# (museum, object number, title, object type, colour)
RECORDS = [
    ("Met", "10.1", "Jar with lid", "Vessel", RED),
    ("Met", "10.2", "Statue of a seated man", "Sculpture", RED),
    ("Met", "10.3", "Scarab of Amenhotep", "Amulet", BLUE),
    ("Cleveland", "1914.1", "Coin of Ptolemy I", "Coin", BLUE),
    ("Cleveland", "1914.2", "Fragment", "Fragment", GREEN),
    # names two classes (the scarab is not after "with", a subject cue, so it counts)
    ("Chicago", "E.1", "Necklace of beads and scarabs", "Jewelry", GREEN),
]


@pytest.fixture(autouse=True)
def numpy_backbone(settings):
    """Every admin test scores with the custom-tagging tests' numpy backbone (no TensorFlow)."""
    from muses.vision import backbones

    backbones.BACKBONES[TINY_NAME] = (build_tiny, TINY_INPUT)
    backbones.get_backbone.cache_clear()
    settings.MUSES_BACKBONE = TINY_NAME
    yield backbones.get_backbone(TINY_NAME)
    backbones.get_backbone.cache_clear()
    backbones.BACKBONES.pop(TINY_NAME, None)


@pytest.fixture(autouse=True)
def fresh_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def collection(make_image):
    """Six images of six items; {image_id: Image}, ids 'met-10.1' style."""
    images = {}
    for museum, number, title, object_type, colour in RECORDS:
        item = Item.objects.create(
            museum=museum, object_number=number, title=title, object_type=object_type
        )
        image_id = f"{museum.lower()}-{number.replace('.', '-')}"
        images[image_id] = make_image(image_id=image_id, item=item, color=colour)
    return images


@pytest.fixture
def with_features(numpy_backbone):
    """Compute and store the features of the given images (or of every image)."""
    from muses.vision.store import features_extract

    def extract(images=None):
        return features_extract(images=images, backbone=numpy_backbone)

    return extract


@pytest.fixture
def colour_images(make_image, with_features):
    """Uploaded images with features: `reds` and `blues` lists, plus 6 unlabelled others."""

    def make(reds=6, blues=6, others=6):
        made = {"reds": [], "blues": [], "others": []}
        for i in range(reds):
            made["reds"].append(make_image(image_id=f"red-{i}", color=shade(RED, i), size=(40, 40)))
        for i in range(blues):
            colour = shade(BLUE if i % 2 else GREEN, i)
            made["blues"].append(make_image(image_id=f"blue-{i}", color=colour, size=(40, 40)))
        for i in range(others):
            colour = shade(RED if i % 2 else BLUE, i + 3)
            made["others"].append(make_image(image_id=f"other-{i}", color=colour, size=(40, 40)))
        with_features([image for group in made.values() for image in group])
        return made

    return make


@pytest.fixture
def trained_tag(colour_images):
    """Tag 'red' labelled with reds and blues and trained twice (v1, v2 active)."""
    from custom_tagging.selectors import tag_get
    from custom_tagging.services.tags import assignment_set
    from custom_tagging.services.training import tag_train

    def make(name="red", versions=2):
        images = colour_images()
        for image in images["reds"]:
            assignment_set(image=image, tag_name=name, label="positive")
        for image in images["blues"]:
            assignment_set(image=image, tag_name=name, label="negative")
        tag = tag_get(name=name)
        for _ in range(versions):
            tag_train(tag=tag)
        return tag, images

    return make


@pytest.fixture
def no_class_priority(monkeypatch):
    """Records naming several classes are skipped as ambiguous instead of prioritised."""
    from naive_classification import definitions
    from naive_classification.summaries import cached_labeller

    monkeypatch.setattr(definitions, "class_priority", [])
    cached_labeller.cache_clear()
    yield
    cached_labeller.cache_clear()


def changelist_ids(response) -> set[str]:
    """The image_ids listed on an image changelist page."""
    return {obj.image_id for obj in response.context["cl"].result_list}
