"""The transfer phase's stream over cached views: every image once per epoch, with its own
label and weight, each time in a randomly chosen view."""

import numpy as np

from naive_classification.features import view_stream

VIEWS, IMAGES = 4, 64


def cached_views() -> np.ndarray:
    """(views, images, 2): feature row = (view number, image number), so a batch says which
    view of which image it holds."""
    view, image = np.meshgrid(np.arange(VIEWS), np.arange(IMAGES), indexing="ij")
    return np.stack([view, image], axis=-1).astype(np.float32)


def one_epoch(stream) -> tuple[np.ndarray, ...]:
    parts = list(zip(*((np.asarray(t) for t in batch) for batch in stream)))
    return tuple(np.concatenate(p) for p in parts)


def test_an_epoch_holds_every_image_once_with_its_own_label_and_weight():
    labels = (np.arange(IMAGES) * 7 % 5).astype(np.int32)
    weights = np.linspace(0.5, 2.0, IMAGES)
    features, got_labels, got_weights = one_epoch(
        view_stream(cached_views(), labels, 10, weights=weights, seed=0)
    )
    images = features[:, 1].astype(int)
    assert sorted(images) == list(range(IMAGES))
    np.testing.assert_array_equal(got_labels, labels[images])
    np.testing.assert_allclose(got_weights, weights[images].astype(np.float32))


def test_images_come_in_a_new_order_and_in_every_view_over_the_epochs():
    stream = view_stream(cached_views(), np.zeros(IMAGES, np.int32), 8, seed=0)
    epochs = [one_epoch(stream)[0] for _ in range(5)]
    orders = {tuple(features[:, 1].astype(int)) for features in epochs}
    assert len(orders) > 1, "the stream does not reshuffle between epochs"
    # Random draws: an image may land on the same view five times, most do not.
    varied = [len({int(f[f[:, 1] == image][0, 0]) for f in epochs}) > 1 for image in range(IMAGES)]
    assert np.mean(varied) >= 0.9, "images keep coming in the same view"
    drawn = np.concatenate([features[:, 0] for features in epochs]).astype(int)
    assert set(drawn) == set(range(VIEWS))
