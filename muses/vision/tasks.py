"""django-q2 tasks for feature extraction: queued by dotted path, taking primary keys."""

from django.conf import settings
from django_q.tasks import async_task

from muses.collection.models import Image
from muses.jobs.services import job_task_failed
from muses.vision.backbones import get_backbone
from muses.vision.job_kinds import vision_job_run
from muses.vision.models import VisionJob
from muses.vision.near_duplicates import duplicates_find
from muses.vision.store import features_extract, images_missing_features

CHUNK_IMAGES = 256  # images per task: several workers share a large collection


def features_extract_task(image_pks: list[int], backbone_name: str | None = None) -> int:
    backbone = get_backbone(backbone_name or settings.MUSES_BACKBONE)
    images = images_missing_features(backbone.name).filter(pk__in=image_pks)
    extracted = features_extract(images=images, backbone=backbone).extracted
    if backbone.name == settings.MUSES_BACKBONE:
        # New images are checked against the stored ones as they arrive.
        duplicates_find(images=Image.objects.filter(pk__in=image_pks))
    return extracted


def vision_job_task(job_pk: int) -> str:
    job = vision_job_run(job_pk=job_pk)
    return job.state if job is not None else "missing"


def vision_job_hook(task) -> None:
    if not task.success and task.args:
        job_task_failed(model=VisionJob, pk=task.args[0], result=task.result)


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


def images_of_items_missing_features(
    *, item_pks: list[int], backbone_name: str | None = None, chunk: int = 500
) -> list[int]:
    """The images of these items with no features yet (committed by an import that was
    killed before it queued them, or whose job was lost), in chunks the database takes."""
    missing = images_missing_features(backbone_name or settings.MUSES_BACKBONE)
    pks: list[int] = []
    for start in range(0, len(item_pks), chunk):
        batch = item_pks[start : start + chunk]
        pks += missing.filter(item_id__in=batch).values_list("pk", flat=True)
    return pks


def feature_index_rebuild_task(backbone_name: str | None = None, family: str | None = None) -> int:
    """Rebuild this machine's index of a feature space (a backbone's features of one
    numerics family, by default the worker's own) from the database."""
    from muses.vision.feature_index.maintenance import index_rebuild

    return index_rebuild(backbone=backbone_name or settings.MUSES_BACKBONE, family=family)


def feature_index_compact_task(backbone_name: str, family: str) -> str:
    """Compact this machine's index of a feature space when it is still due (several
    processes may have asked)."""
    from muses.vision.feature_index.errors import FeatureIndexError
    from muses.vision.feature_index.file import FeatureIndexFile
    from muses.vision.feature_index.maintenance import compaction_due, index_compact
    from muses.vision.feature_index.space import index_directory, index_name

    try:
        handle = FeatureIndexFile(index_directory(), index_name(backbone_name, family))
    except FeatureIndexError as exc:
        return f"not compacted: {exc}"
    try:
        due = compaction_due(handle)
    finally:
        handle.close()
    if not due:
        return "not due"
    try:
        kept, dropped = index_compact(backbone=backbone_name, family=family)
    except FeatureIndexError as exc:  # replaced by a rebuild meanwhile: nothing to do
        return f"not compacted: {exc}"
    return f"compacted: {kept} rows kept, {dropped} dropped"
