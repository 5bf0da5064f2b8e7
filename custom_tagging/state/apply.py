"""Loading a state tar: read and checked completely first (validation), then applied in
one transaction: all or nothing."""

import numpy as np
from django.conf import settings
from django.db import transaction

from custom_tagging import exceptions as errors
from custom_tagging.models import COEF_DTYPE, Assignment, CustomTag, TagVersion
from custom_tagging.services.features import backbone_get
from custom_tagging.services.versions import LinearHead, version_create
from custom_tagging.state.validation import StatePlan, TagPlan, state_read
from muses.collection.models import Image
from muses.vision.inference import configured_family, family_filter, family_numerics
from muses.vision.models import ImageFeature
from muses.vision.store import compatible_features, feature_row, index_append_stored

LOOKUP_CHUNK = 500


def state_import(*, data: bytes) -> dict:
    """Load a state tar: every tag it holds gets its assignments (for images that exist
    here) and, when it has a model, a new active version. Tags not in the tar are kept."""
    if len(data) > settings.MUSES_STATE_MAX_BYTES:
        raise errors.UploadTooLarge(
            f"The state is {len(data):,} bytes; the limit is {settings.MUSES_STATE_MAX_BYTES:,} "
            "(MUSES_STATE_MAX_BYTES)."
        )
    plan = state_read(data=data)
    with transaction.atomic():
        return _apply(plan)


def _apply(plan: StatePlan) -> dict:
    report = {
        "tags": 0,
        "versions": 0,
        "versions_unchanged": 0,
        "assignments": 0,
        "assignments_skipped": 0,
        "features": 0,
    }
    all_ids = {i for t in plan.tags for ids in t.assignments.values() for i in ids}
    image_pks = _image_pks(all_ids | set(plan.feature_ids))
    for tag_plan in plan.tags:
        tag, _ = CustomTag.objects.get_or_create(name=tag_plan.name)
        tag.target_precision = tag_plan.target_precision
        tag.save(update_fields=["target_precision"])
        report["tags"] += 1
        written, skipped = _apply_assignments(tag, tag_plan.assignments, image_pks)
        report["assignments"] += written
        report["assignments_skipped"] += skipped
        if tag_plan.model is None:
            continue
        if _is_active_model(tag, tag_plan):
            report["versions_unchanged"] += 1  # loading the same state again adds nothing
        else:
            _apply_model(tag, tag_plan)
            report["versions"] += 1
    if plan.features is not None:
        report["features"] = _apply_features(plan, image_pks)
    return report


def _image_pks(image_ids: set[str]) -> dict[str, int]:
    ids = sorted(image_ids)
    found: dict[str, int] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        found.update(Image.objects.filter(image_id__in=chunk).values_list("image_id", "pk"))
    return found


def _apply_assignments(tag, assignments: dict[str, list[str]], image_pks) -> tuple[int, int]:
    existing = {a.image_id: a for a in Assignment.objects.filter(tag=tag)}
    create, update, skipped = [], [], 0
    for label, ids in assignments.items():
        for image_id in ids:
            pk = image_pks.get(image_id)
            if pk is None:
                skipped += 1
            elif pk in existing:
                existing[pk].label = label
                update.append(existing[pk])
            else:
                create.append(Assignment(tag=tag, image_id=pk, label=label))
    Assignment.objects.bulk_create(create, batch_size=LOOKUP_CHUNK)
    Assignment.objects.bulk_update(update, ["label"], batch_size=LOOKUP_CHUNK)
    return len(create) + len(update), skipped


def _is_active_model(tag: CustomTag, plan: TagPlan) -> bool:
    """The tag's active version is this very model: same backbone and weights, the same
    coefficients bit for bit, the same intercept and threshold."""
    backbone = backbone_get()
    active = tag.versions.filter(is_active=True).first()
    return (
        active is not None
        and (active.backbone, active.weights_digest) == (backbone.name, backbone.weights_digest)
        and bytes(active.coef) == plan.coef.astype(COEF_DTYPE).tobytes()
        and active.intercept == plan.model["intercept"]
        and active.threshold == plan.model["threshold"]
    )


def _apply_model(tag: CustomTag, plan: TagPlan) -> TagVersion:
    backbone = backbone_get()
    model = plan.model
    metrics = dict(
        model["metrics"], imported={"version": model["version"], "created": model["created"]}
    )
    head = LinearHead(
        coef=plan.coef,
        intercept=model["intercept"],
        threshold=model["threshold"],
        metrics=metrics,
        positives=model["positives"],
        negatives=model["negatives"],
    )
    return version_create(
        tag=tag, head=head, backbone=backbone.name, weights_digest=backbone.weights_digest
    )


def _apply_features(plan: StatePlan, image_pks: dict[str, int]) -> int:
    """Store vectors for images that exist here and have none of this family yet; a row of
    another family in the image's slot is replaced (never mixed). An image listed twice
    keeps its first vector, in the database and the index alike."""
    backbone = backbone_get()
    wanted: dict[int, np.ndarray] = {}
    for image_id, vector in zip(plan.feature_ids, plan.features):
        pk = image_pks.get(image_id)
        if pk is not None:
            wanted.setdefault(pk, vector)
    have = _with_compatible_features(backbone.name, list(wanted))
    numerics = family_numerics(configured_family())  # _check_backbone: the state's family
    rows = [
        feature_row(Image(pk=pk), backbone, vector, numerics)
        for pk, vector in wanted.items()
        if pk not in have
    ]
    if not rows:
        return 0
    missing = [row.image_id for row in rows]
    for start in range(0, len(missing), LOOKUP_CHUNK):
        ImageFeature.objects.filter(
            backbone=backbone.name, image_id__in=missing[start : start + LOOKUP_CHUNK]
        ).exclude(family_filter(configured_family())).delete()
    ImageFeature.objects.bulk_create(rows, batch_size=LOOKUP_CHUNK, ignore_conflicts=True)
    index_append_stored(
        backbone_name=backbone.name,
        image_pks=missing,
        vectors=np.stack([row.as_array() for row in rows]),
    )
    # Counted from the database, not from the rows built: ignore_conflicts skips silently.
    return len(_with_compatible_features(backbone.name, missing))


def _with_compatible_features(backbone_name: str, image_pks: list[int]) -> set[int]:
    """Those of the images that hold a vector this installation may mix with its own."""
    found: set[int] = set()
    for start in range(0, len(image_pks), LOOKUP_CHUNK):
        chunk = image_pks[start : start + LOOKUP_CHUNK]
        rows = compatible_features(backbone_name).filter(image_id__in=chunk)
        found.update(rows.values_list("image_id", flat=True))
    return found
