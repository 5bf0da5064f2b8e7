"""Near-duplicate workflows over the stored images (the signals and the grouping rules are
:mod:`muses.vision.near_duplicate_signals`): hash the pictures, find and group
near-duplicates among the stored images, and the curator's decisions on a group (keep apart,
merge).

Finding never undoes a decision: images of a group a curator kept apart are not grouped
together again, and merged groups stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from muses.collection.decode import ImageDecodeError, decode_image
from muses.collection.models import Image
from muses.vision.feature_index.handle import feature_index
from muses.vision.models import DuplicateGroup, DuplicateMember, ImageHash
from muses.vision.near_duplicate_signals import (
    connected_groups,
    near_duplicate_pairs,
    perceptual_hash,
)
from muses.vision.store import image_source

DECIDED = (DuplicateGroup.State.KEPT, DuplicateGroup.State.MERGED)


@dataclass
class DuplicateReport:
    pairs: int = 0
    groups_created: int = 0
    groups_grown: int = 0
    images: list[int] = field(default_factory=list)  # pks of the images now in open groups


def image_hashes_compute(*, images, progress: bool = False) -> int:
    """Store the perceptual hash of every given image that has none; undecodable files are
    skipped (their features are missing too)."""
    todo = list(images.filter(perceptual_hash__isnull=True).order_by("id"))
    rows = []
    for image in tqdm(todo, desc="perceptual hashes", unit="img", disable=not progress):
        try:
            picture = decode_image(image_source(image)).image
        except ImageDecodeError:
            continue
        rows.append(ImageHash(image=image, value=perceptual_hash(picture)))
    ImageHash.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)


def duplicates_find(*, images=None, progress: bool = False, on_progress=None) -> DuplicateReport:
    """Group near-duplicates among all stored images with features, or only those involving
    ``images`` (a queryset of new images) — adding to the open groups either way.
    ``on_progress(fraction)`` is called between the steps (a job's cancel point)."""
    report = on_progress or (lambda fraction: None)
    image_hashes_compute(
        images=images if images is not None else Image.objects.all(), progress=progress
    )
    report(0.5)
    pks, features, hashes = _signals()
    if len(pks) < 2:
        return DuplicateReport()
    rows = None
    if images is not None:
        wanted = set(images.values_list("pk", flat=True))
        rows = np.flatnonzero(np.isin(pks, list(wanted)))
        if not len(rows):
            return DuplicateReport()
    pairs = near_duplicate_pairs(features, hashes, rows=rows)
    pairs = [(int(pks[i]), int(pks[j]), s) for i, j, s in pairs]
    report(0.9)
    return _store_groups(_without_decided(pairs))


def _signals() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image pks, features, hashes) of the images that have both."""
    image_pks, _, matrix = feature_index(settings.MUSES_BACKBONE).library()
    hashes = dict(ImageHash.objects.values_list("image_id", "value"))
    keep = np.array([pk in hashes for pk in image_pks], dtype=bool)
    pks = np.asarray(image_pks)[keep] if len(image_pks) else np.zeros(0, np.int64)
    values = np.array([hashes[int(pk)] for pk in pks], dtype=np.int64)
    return pks, matrix[keep] if len(image_pks) else matrix, values


def _without_decided(pairs):
    """Pairs not touching a merged group, nor joining two images of one kept group."""
    decided = dict(
        DuplicateMember.objects.filter(group__state__in=DECIDED).values_list(
            "image_id", "group__state"
        )
    )
    kept_group = dict(
        DuplicateMember.objects.filter(group__state=DuplicateGroup.State.KEPT).values_list(
            "image_id", "group_id"
        )
    )
    merged = {pk for pk, state in decided.items() if state == DuplicateGroup.State.MERGED}
    return [
        (i, j, s)
        for i, j, s in pairs
        if i not in merged
        and j not in merged
        and not (i in kept_group and kept_group.get(i) == kept_group.get(j))
    ]


@transaction.atomic
def _store_groups(pairs) -> DuplicateReport:
    report = DuplicateReport(pairs=len(pairs))
    if not pairs:
        return report
    open_members = dict(
        DuplicateMember.objects.filter(group__state=DuplicateGroup.State.OPEN).values_list(
            "image_id", "group_id"
        )
    )
    # Existing open groups are joined through pairs of their members, then the new pairs.
    by_group: dict[int, list[int]] = {}
    for pk, group_id in open_members.items():
        by_group.setdefault(group_id, []).append(pk)
    touched = {open_members[pk] for i, j, _ in pairs for pk in (i, j) if pk in open_members}
    chained = [
        (m[0], m[k], 1.0)
        for group_id, m in by_group.items()
        if group_id in touched
        for k in range(1, len(m))
    ]
    nodes = sorted({pk for i, j, _ in pairs + chained for pk in (i, j)})
    index = {pk: n for n, pk in enumerate(nodes)}
    similarity = {}
    for i, j, s in pairs:
        for pk in (i, j):
            similarity[pk] = max(similarity.get(pk, 0.0), s)
    components = connected_groups(
        len(nodes), [(index[i], index[j], s) for i, j, s in pairs + chained]
    )
    for component in components:
        members = [nodes[n] for n in component]
        _store_component(members, open_members, similarity, report)
    return report


def _store_component(members, open_members, similarity, report: DuplicateReport) -> None:
    existing = sorted({open_members[pk] for pk in members if pk in open_members})
    if existing:
        group = DuplicateGroup.objects.get(pk=existing[0])
        # Groups that the new pairs joined become one.
        DuplicateMember.objects.filter(group_id__in=existing[1:]).update(group=group)
        DuplicateGroup.objects.filter(pk__in=existing[1:]).delete()
        report.groups_grown += any(pk not in open_members for pk in members)
    else:
        group = DuplicateGroup.objects.create()
        report.groups_created += 1
    # An image leaves a kept group when it is found again with new images.
    DuplicateMember.objects.filter(image_id__in=members).exclude(group=group).filter(
        group__state=DuplicateGroup.State.KEPT
    ).delete()
    DuplicateMember.objects.bulk_create(
        [
            DuplicateMember(group=group, image_id=pk, similarity=similarity.get(pk, 0.0))
            for pk in members
            if pk not in open_members or open_members[pk] != group.pk
        ],
        ignore_conflicts=True,
    )
    report.images.extend(members)


def duplicate_group_keep(*, group: DuplicateGroup) -> DuplicateGroup:
    """A curator says the images are distinct: they are not grouped again, and the exporter
    may put them in different splits."""
    return _decide(group, DuplicateGroup.State.KEPT)


def duplicate_group_merge(*, group: DuplicateGroup, keeper: Image | None = None) -> DuplicateGroup:
    """A curator says the images show one object: every member's image moves to the keeper's
    item (the first member with an item unless given). Nothing is deleted; items left without
    images keep their records."""
    members = list(group.members.select_related("image").order_by("image_id"))
    keeper = keeper or next((m.image for m in members if m.image.item_id), None)
    with transaction.atomic():
        if keeper is not None and keeper.item_id:
            Image.objects.filter(pk__in=[m.image_id for m in members]).update(item=keeper.item_id)
        return _decide(group, DuplicateGroup.State.MERGED)


def _decide(group: DuplicateGroup, state: str) -> DuplicateGroup:
    if group.state != DuplicateGroup.State.OPEN:
        raise ValueError(f"Near-duplicate group #{group.pk} was already decided ({group.state}).")
    group.state = state
    group.decided = timezone.now()
    group.save(update_fields=["state", "decided"])
    return group


def duplicate_group_keys(*, image_pks) -> dict[int, str]:
    """{image pk: "dup:<group>"} for images of open and merged groups: the exporter keeps each
    such group in one split."""
    rows = DuplicateMember.objects.filter(
        image_id__in=list(image_pks),
        group__state__in=(DuplicateGroup.State.OPEN, DuplicateGroup.State.MERGED),
    ).values_list("image_id", "group_id")
    return {pk: f"dup:{group_id}" for pk, group_id in rows}


def new_images_duplicates(*, image_pks: list[int]) -> str:
    """One line for an importer: how many of its new images are near-duplicates (found when
    their features were computed, or now for those that have features)."""
    images = Image.objects.filter(pk__in=image_pks)
    with_features = images.filter(features__backbone=settings.MUSES_BACKBONE)
    if not with_features.exists():
        return (
            "near-duplicates: checked as features are computed "
            "(or run `manage.py muses_find_duplicates`)"
        )
    duplicates_find(images=with_features)
    members = DuplicateMember.objects.filter(
        image_id__in=image_pks, group__state=DuplicateGroup.State.OPEN
    )
    groups = members.values("group_id").distinct().count()
    return (
        f"near-duplicates: {members.count()} of the {len(image_pks)} new images look like "
        f"other images, in {groups} groups (admin: Vision › Near-duplicates)"
    )
