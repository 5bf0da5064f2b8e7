"""django-q2 tasks for feature extraction: queued by dotted path, taking primary keys."""

from django.conf import settings
from django_q.tasks import async_task

from muses.collection.models import Image
from muses.vision.backbones import get_backbone
from muses.vision.store import features_extract

CHUNK_IMAGES = 256  # images per task: several workers share a large collection


def features_extract_task(image_pks: list[int], backbone_name: str | None = None) -> int:
    backbone = get_backbone(backbone_name or settings.MUSES_BACKBONE)
    images = Image.objects.filter(pk__in=image_pks).exclude(features__backbone=backbone.name)
    return features_extract(images=images.order_by("id"), backbone=backbone).extracted


def features_enqueue(
    *, image_pks: list[int], backbone_name: str | None = None, chunk: int = CHUNK_IMAGES
) -> int:
    """Queue extraction in chunks; returns the number of tasks queued."""
    chunks = [image_pks[i : i + chunk] for i in range(0, len(image_pks), chunk)]
    for chunk in chunks:
        async_task(
            "muses.vision.tasks.features_extract_task",
            chunk,
            backbone_name,
            task_name=f"features {chunk[0]}-{chunk[-1]}",
        )
    return len(chunks)


def feature_index_rebuild_task(backbone_name: str | None = None) -> int:
    """Rebuild this machine's index of a backbone's features from the database."""
    from muses.vision.index import index_rebuild

    return index_rebuild(backbone=backbone_name or settings.MUSES_BACKBONE)
