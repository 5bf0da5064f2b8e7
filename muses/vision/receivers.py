"""What the vision app does when the collection says something happened."""

from muses.vision.near_duplicates import new_images_duplicates
from muses.vision.tasks import features_enqueue, images_of_items_missing_features


def images_imported_follow_up(sender, *, report, queue_features: bool, say, **kwargs) -> None:
    """After an import: features for the images that have none, then near-duplicates of the
    new images among the collection."""
    if queue_features:
        _features_queue(report, say)
    if report.new_image_pks:
        say(new_images_duplicates(image_pks=report.new_image_pks))


def _features_queue(report, say) -> None:
    """Features for every image of the source that has none: the new ones, and those a
    killed earlier run committed without queueing (or whose job was lost)."""
    pks = images_of_items_missing_features(item_pks=report.item_pks)
    pks = sorted(set(pks) | set(report.new_image_pks))
    if not pks:
        return
    jobs = features_enqueue(image_pks=pks)
    earlier = len(set(pks) - set(report.new_image_pks))
    note = f" ({earlier} imported earlier without features)" if earlier else ""
    say(f"queued feature extraction for {len(pks)} images in {jobs} job(s){note}")
