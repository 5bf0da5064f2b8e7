"""Curation workflows: likely label errors of the naive dataset and of each custom tag, and
the one-click fixes a curator applies to them.

Nothing here changes a label by itself: the reports only read, and each fix is one
curator's click on one image.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

from curation import exceptions as errors
from curation import label_issues, layout
from curation.models import CurationJob, MapPoint
from custom_tagging import learning
from custom_tagging.models import Assignment, CustomTag
from custom_tagging.services.tags import (
    assignment_delete,
    assignment_set,
    assignments_set_many,
    tag_get_or_create,
)
from exporters.naive.muses_exporter_plugin import CURATOR_FIELD, candidate_images, label_image
from exporters.naive.muses_exporter_plugin import labeller as naive_labeller
from muses.collection.models import Image
from muses.jobs.models import UNFINISHED_STATES, JobState
from muses.jobs.services import job_expire_if_stale
from muses.vision.feature_index.handle import feature_index
from naive_classification import definitions
from naive_classification import services as naive

# Reports are cached by a digest of their labels and features: the same labels give the
# same report without refitting k heads; any change of a label recomputes it.
CACHE_SECONDS = 24 * 3600
CACHE_PREFIX = "curation:label-issues:"
SOURCE_WORDS = "words"
SOURCE_CURATOR = "curator"
SOURCE_ASSIGNMENT = "assignment"
REPORT_NAIVE = "naive"
REPORT_TAG = "tag"
TAG_FIXES = ("flip", "remove")


@dataclass
class LabelIssueReport:
    """Likely label errors, most likely first; each issue a dict of plain values."""

    kind: str
    examples: int  # labelled examples that were cross-validated
    without_features: int
    folds: int
    issues: list[dict] = field(default_factory=list)
    left_out_classes: dict[str, int] = field(default_factory=dict)


@dataclass
class _Labelled:
    image_ids: list[str]
    labels: list[str]
    sources: list[str]
    words: list[str]


# --- the naive dataset ----------------------------------------------------------------


def naive_labelled() -> _Labelled:
    """Every image the next export labels, with its class and where the class came from."""
    rows = _Labelled([], [], [], [])
    naive_words = naive_labeller()
    for image in candidate_images().iterator(chunk_size=2000):
        label = label_image(image, naive_words)
        if label.class_name is None:
            continue
        rows.image_ids.append(image.image_id)
        rows.labels.append(label.class_name)
        rows.sources.append(SOURCE_CURATOR if label.field == CURATOR_FIELD else SOURCE_WORDS)
        rows.words.append(label.word)
    return rows


def naive_label_issues(*, include_curated: bool = False) -> LabelIssueReport | CurationJob:
    """Records of the naive dataset whose image contradicts their class, or the job that is
    computing them (the cross-validated fit takes a while past a few thousand images).
    Classes with fewer examples than folds are left out (and counted); curator-set classes
    are fitted on but not listed unless ``include_curated``."""
    report = _report_or_job(REPORT_NAIVE, None)
    if isinstance(report, CurationJob) or include_curated:
        return report
    kept = [issue for issue in report.issues if issue["source"] != SOURCE_CURATOR]
    return LabelIssueReport(**{**report.__dict__, "issues": kept})


def tag_label_issues(*, tag: CustomTag) -> LabelIssueReport | CurationJob:
    """Positives and negatives of a tag whose image contradicts their label, from the
    out-of-fold scores of the folds the tag's training runs; or the job computing them."""
    return _report_or_job(REPORT_TAG, tag)


def label_issues_compute(
    *, report: str, tag_pk: int | None = None, progress=None, publish=None
) -> LabelIssueReport:
    """Fit one report now and cache it (the label-issues job runs this). ``progress``
    hears each fold (a job's cancel point); ``publish(report)`` says whether the report
    stands (the job's success): a report whose job was cancelled is not served."""
    tag = CustomTag.objects.filter(pk=tag_pk).first() if report == REPORT_TAG else None
    if report == REPORT_TAG and tag is None:
        raise errors.TooFewLabels("The tag was deleted since the report was asked for.")
    inputs = _report_inputs(report, tag)
    result = _fit(report, inputs, progress)
    cache.set(inputs.key, result, CACHE_SECONDS)  # before success: readers never miss it
    if publish is not None and not publish(result):
        cache.delete(inputs.key)
    return result


# --- the naive dataset's labels ---------------------------------------------------------


def _naive_plan(labelled: _Labelled, found: list[str]) -> _Plan:
    by_id = _rows_by_id(labelled)
    counts = Counter(by_id[i][0] for i in found)
    small = {name: n for name, n in counts.items() if n < label_issues.FOLDS}
    keep = [k for k, image_id in enumerate(found) if by_id[image_id][0] not in small]
    names = sorted({by_id[found[k]][0] for k in keep}, key=definitions.classes.get)
    if len(names) < 2:
        raise errors.TooFewLabels(
            f"Finding label errors needs at least two classes with {label_issues.FOLDS} or "
            f"more labelled images with features; found {dict(counts) or 'none'}."
        )
    index = {name: i for i, name in enumerate(names)}
    ids = [found[k] for k in keep]
    y = np.array([index[by_id[i][0]] for i in ids])
    return _Plan(ids, keep, y, names, by_id, label_issues.FOLDS, small)


# --- custom tags ----------------------------------------------------------------------


def tag_labelled(tag: CustomTag) -> _Labelled:
    rows = _Labelled([], [], [], [])
    for image_id, label in tag.assignments.order_by("image_id").values_list(
        "image__image_id", "label"
    ):
        rows.image_ids.append(image_id)
        rows.labels.append(label)
        rows.sources.append(SOURCE_ASSIGNMENT)
        rows.words.append("")
    return rows


def _tag_plan(tag: CustomTag, labelled: _Labelled, found: list[str]) -> _Plan:
    by_id = _rows_by_id(labelled)
    names = [Assignment.Label.NEGATIVE, Assignment.Label.POSITIVE]
    y = np.array([by_id[i][0] == Assignment.Label.POSITIVE for i in found], dtype=np.int8)
    need = learning.MIN_PER_CLASS_FOR_CV
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    if min(positives, negatives) < need:
        raise errors.TooFewLabels(
            f"Tag {tag.name!r}: finding label errors needs at least {need} positive and "
            f"{need} negative examples with features; there are {positives} and {negatives}."
        )
    folds = min(label_issues.FOLDS, positives, negatives)
    return _Plan(found, list(range(len(found))), y, names, by_id, folds, {})


# --- shared ---------------------------------------------------------------------------


@dataclass
class _Plan:
    """What a report fits: the examples kept (ids, their rows in X), labels, class names."""

    ids: list[str]
    rows: list[int]
    y: np.ndarray
    names: list[str]
    by_id: dict[str, tuple[str, str, str]]
    folds: int
    left_out: dict[str, int]


@dataclass
class _Inputs:
    kind: str  # the report's own name: "naive" or "tag:<name>"
    key: str
    plan: _Plan
    X: np.ndarray
    without_features: int


def _report_inputs(report: str, tag: CustomTag | None) -> _Inputs:
    """Labels, features and the cache key of a report, checked: what is wrong with them
    (nothing labelled, no features, too few labels) is said at once, before any fit."""
    kind = "naive" if report == REPORT_NAIVE else f"tag:{tag.pk}"  # the cache's: names change
    labelled = naive_labelled() if report == REPORT_NAIVE else tag_labelled(tag)
    if not labelled.image_ids:
        raise errors.TooFewLabels(f"Nothing is labelled yet ({_kind_text(kind)}).")
    found, X = feature_index(settings.MUSES_BACKBONE).vectors_of(labelled.image_ids)
    if not found:
        raise errors.FeaturesMissing(
            f"None of the {len(labelled.image_ids)} labelled images has features yet "
            f"({_kind_text(kind)}): run `manage.py muses_extract_features` first."
        )
    by_id = _rows_by_id(labelled)
    key = CACHE_PREFIX + _digest(kind, [(i, by_id[i][0], by_id[i][1]) for i in found])
    plan = _naive_plan(labelled, found) if tag is None else _tag_plan(tag, labelled, found)
    name = "naive" if tag is None else f"tag:{tag.name}"
    return _Inputs(name, key, plan, X, len(labelled.image_ids) - len(found))


def _report_or_job(report: str, tag: CustomTag | None) -> LabelIssueReport | CurationJob:
    """The cached report of these very labels, or the job that computes it (queued now
    unless one is already on its way); in the queue's sync mode the job has run already."""
    inputs = _report_inputs(report, tag)
    cached = cache.get(inputs.key)
    if cached is None:
        job = _label_issues_job(report, tag)
        cached = cache.get(inputs.key)
        if cached is None:
            if job.state == JobState.ERROR:
                raise errors.TooFewLabels(job.error)
            return job
    cached.without_features = inputs.without_features
    return cached


def _label_issues_job(report: str, tag: CustomTag | None) -> CurationJob:
    """The unfinished job computing this report, or a new one: one job per report, also
    when requests race; a job whose worker died is expired, not handed out again."""
    from curation.jobs import label_issues_enqueue  # the jobs module runs this one's work

    options = {"report": report, "tag_pk": tag.pk if tag is not None else None}
    with transaction.atomic():
        _report_lock(options)
        waiting = CurationJob.objects.filter(
            kind=CurationJob.Kind.LABEL_ISSUES, state__in=UNFINISHED_STATES, options=options
        ).first()
        if waiting is not None and job_expire_if_stale(waiting).state in UNFINISHED_STATES:
            return waiting
        job = CurationJob.objects.create(kind=CurationJob.Kind.LABEL_ISSUES, options=options)
    return label_issues_enqueue(job=job)


def _report_lock(options: dict) -> None:
    """Serialise the check-then-create of one report's job: a transaction-scoped advisory
    lock on PostgreSQL; SQLite's immediate transactions already admit one writer."""
    if connection.vendor != "postgresql":
        return
    digest = hashlib.sha256(f"label-issues {sorted(options.items())}".encode()).digest()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)]
        )


def _fit(report: str, inputs: _Inputs, progress=None) -> LabelIssueReport:
    plan = inputs.plan
    X = inputs.X[plan.rows]
    try:
        if report == REPORT_NAIVE:
            probabilities = label_issues.multiclass_probabilities(X, plan.y, progress=progress)
        else:
            probabilities = label_issues.binary_probabilities(X, plan.y, progress=progress)
        ranking = label_issues.rank_issues(plan.y, probabilities)
    except label_issues.TooFewLabels as exc:
        raise errors.TooFewLabels(str(exc)) from None
    result = LabelIssueReport(
        inputs.kind, len(plan.ids), 0, plan.folds, left_out_classes=plan.left_out
    )
    result.issues = _issues(ranking, plan.ids, plan.names, plan.by_id)
    return result


def _rows_by_id(labelled: _Labelled) -> dict[str, tuple[str, str, str]]:
    return {
        image_id: (label, source, word)
        for image_id, label, source, word in zip(
            labelled.image_ids, labelled.labels, labelled.sources, labelled.words
        )
    }


def _kind_text(kind: str) -> str:
    return "the naive dataset" if kind == "naive" else "this tag"


def _digest(kind: str, rows: list[tuple[str, str, str]]) -> str:
    text = "\n".join([kind, settings.MUSES_BACKBONE, *("\t".join(row) for row in rows)])
    return hashlib.sha256(text.encode()).hexdigest()


def _issues(ranking, image_ids: list[str], names: list[str], by_id) -> list[dict]:
    issues = []
    for rank, k in enumerate(ranking.issues, start=1):
        image_id = image_ids[k]
        _, source, word = by_id[image_id]
        issues.append(
            {
                "rank": rank,
                "image_id": image_id,
                "given": names[ranking.labels[k]],
                "suggested": names[ranking.suggested[k]],
                "given_probability": round(float(ranking.given_probability[k]), 4),
                "suggested_probability": round(float(ranking.suggested_probability[k]), 4),
                "source": source,
                "word": word,
            }
        )
    return issues


# --- fixes: one curator's click each ---------------------------------------------------


def naive_label_fix(*, image: Image, class_name: str) -> Image:
    """Give the image a curator's class (the next export and training use it); a curator
    confirming the given class sets that class, so the record is not listed again."""
    if class_name not in definitions.classes:
        raise errors.InvalidFix(f"{class_name[:100]!r} is not a class of the naive classifier.")
    naive.curator_class_set(images=Image.objects.filter(pk=image.pk), class_name=class_name)
    image.refresh_from_db(fields=["curator_class"])
    return image


def tag_label_fix(*, tag: CustomTag, image: Image, action: str, user=None) -> Assignment | None:
    """Flip the image's label for the tag, or remove it from the tag."""
    if action not in TAG_FIXES:
        raise errors.InvalidFix(f"The fix must be 'flip' or 'remove', not {action[:50]!r}.")
    assignment = Assignment.objects.filter(tag=tag, image=image).first()
    if assignment is None:
        raise errors.InvalidFix(f"Image {image.image_id!r} is not assigned to {tag.name!r}.")
    if action == "remove":
        assignment_delete(tag=tag, image=image)
        return None
    flipped = (
        Assignment.Label.NEGATIVE
        if assignment.label == Assignment.Label.POSITIVE
        else Assignment.Label.POSITIVE
    )
    return assignment_set(image=image, tag_name=tag.name, label=flipped, user=user)


# --- the map of the collection ----------------------------------------------------------


def _features_of_all() -> tuple[np.ndarray, np.ndarray]:
    image_pks, _, matrix = feature_index(settings.MUSES_BACKBONE).library()
    return np.asarray(image_pks, np.int64), matrix


def map_layout_compute(*, method: str | None = None, on_progress=None) -> int:
    """Lay out every image that has features (replacing the old map); returns the count.
    ``on_progress(fraction)`` is called between the steps (a job's cancel point)."""
    report = on_progress or (lambda fraction: None)
    pks, matrix = _features_of_all()
    if not len(pks):
        raise errors.FeaturesMissing(
            "No image has features yet: run `manage.py muses_extract_features` first."
        )
    report(0.1)
    xy = layout.layout(matrix, method=method or layout.DEFAULT_METHOD)
    report(0.9)
    rows = [MapPoint(image_id=int(pk), x=float(x), y=float(y)) for pk, (x, y) in zip(pks, xy)]
    with transaction.atomic():
        MapPoint.objects.all().delete()
        MapPoint.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def map_points_place_new() -> int:
    """Place images that got features since the layout among their nearest laid-out
    neighbours; the laid-out points do not move."""
    pks, matrix = _features_of_all()
    positions = dict(
        (pk, (x, y)) for pk, x, y in MapPoint.objects.values_list("image_id", "x", "y")
    )
    if not positions:
        return 0
    have = np.array([int(pk) in positions for pk in pks], dtype=bool)
    if have.all():
        return 0
    placed_xy = np.array([positions[int(pk)] for pk in pks[have]], np.float32)
    new_xy = layout.place(matrix[have], placed_xy, matrix[~have])
    rows = [
        MapPoint(image_id=int(pk), x=float(x), y=float(y), placed=True)
        for pk, (x, y) in zip(pks[~have], new_xy)
    ]
    MapPoint.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
    return len(rows)


MAP_COLOURINGS = ("naive", "predicted", "curator")


def map_points(*, colour_by: str = "naive", tag: CustomTag | None = None) -> dict:
    """The map as columns (JSON-ready): image ids and pks, positions, a colour value per point
    (a class name, or a tag score 0..1), titles and file URLs."""
    map_points_place_new()
    rows = list(MapPoint.objects.select_related("image__item").order_by("image_id"))
    images = [row.image for row in rows]
    if tag is not None:
        values = _tag_scores(tag, images)
    elif colour_by == "naive":
        values = _naive_classes(images)
    elif colour_by == "predicted":
        values = [image.predicted_class for image in images]
    else:
        values = [image.curator_class for image in images]
    return {
        "ids": [image.image_id for image in images],
        "pks": [image.pk for image in images],
        "x": [round(row.x, 5) for row in rows],
        "y": [round(row.y, 5) for row in rows],
        "values": values,
        "titles": [image.item.title if image.item else image.image_id for image in images],
        "urls": [image.file.url for image in images],
    }


def _naive_classes(images) -> list[str]:
    naive_words = naive_labeller()
    return [
        (label_image(image, naive_words).class_name or "")
        if image.item or image.curator_class
        else ""
        for image in images
    ]


def _tag_scores(tag: CustomTag, images) -> list[float | None]:
    version = tag.active_version()
    if version is None:
        raise errors.TooFewLabels(f"Tag {tag.name!r} is not trained yet: train it to colour by it.")
    found, X = feature_index(settings.MUSES_BACKBONE).vectors_of([i.image_id for i in images])
    if not found:
        return [None] * len(images)
    scores = 1.0 / (1.0 + np.exp(-(X @ version.coef_array() + version.intercept)))
    by_id = dict(zip(found, scores))
    return [round(float(by_id[i.image_id]), 4) if i.image_id in by_id else None for i in images]


MAP_ACTIONS = ("positive", "negative", "curator_class")


def map_selection_apply(
    *, image_ids: list[str], action: str, tag_name: str = "", class_name: str = "", user=None
) -> int:
    """A lasso selection's bulk action: mark positive / negative for a tag, or set the curator
    class (an empty class clears it)."""
    if action not in MAP_ACTIONS:
        raise errors.InvalidFix(f"The action must be one of {', '.join(MAP_ACTIONS)}.")
    images = Image.objects.filter(image_id__in=image_ids)
    if not images.exists():
        raise errors.InvalidFix("The selection holds no stored image.")
    if action == "curator_class":
        if class_name and class_name not in definitions.classes:
            raise errors.InvalidFix(f"{class_name[:100]!r} is not a class of the naive classifier.")
        return naive.curator_class_set(images=images, class_name=class_name)
    tag = tag_get_or_create(name=tag_name)
    return assignments_set_many(tag=tag, images=images, label=action, user=user)
