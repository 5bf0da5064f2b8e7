"""Likely label errors of the naive dataset and of each custom tag, as reports: the labels
and features gathered and checked, the cross-validated fit (curation.label_issues), and the
report cached under a digest of its labels and features.

Nothing here changes a label: a report only reads.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.core.cache import cache

from curation import exceptions as errors
from curation import label_issues
from custom_tagging import learning
from custom_tagging.models import Assignment, CustomTag
from exporters.naive.muses_exporter_plugin import CURATOR_FIELD, candidate_images, label_image
from exporters.naive.muses_exporter_plugin import labeller as naive_labeller
from muses.vision.feature_index.handle import feature_index
from naive_classification import definitions

# Reports are cached by a digest of their labels and features: the same labels give the
# same report without refitting k heads; any change of a label recomputes it.
CACHE_SECONDS = 24 * 3600
CACHE_PREFIX = "curation:label-issues:"
SOURCE_WORDS = "words"
SOURCE_CURATOR = "curator"
SOURCE_ASSIGNMENT = "assignment"
# What a report is of: the naive dataset, or one custom tag.
SUBJECT_NAIVE = "naive"
SUBJECT_TAG = "tag"


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


def label_issues_compute(
    *, subject: str, tag_pk: int | None = None, progress=None, publish=None
) -> LabelIssueReport:
    """Fit one report now and cache it (the label-issues job runs this). ``progress``
    hears each fold (a job's cancel point); ``publish(report)`` says whether the report
    stands (the job's success): a report whose job was cancelled is not served."""
    tag = CustomTag.objects.filter(pk=tag_pk).first() if subject == SUBJECT_TAG else None
    if subject == SUBJECT_TAG and tag is None:
        raise errors.TooFewLabels("The tag was deleted since the report was asked for.")
    inputs = report_inputs(subject, tag)
    result = _fit(subject, inputs, progress)
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
class ReportInputs:
    kind: str  # the report's own name: "naive" or "tag:<name>"
    key: str
    plan: _Plan
    X: np.ndarray
    without_features: int


def report_inputs(subject: str, tag: CustomTag | None) -> ReportInputs:
    """Labels, features and the cache key of a report, checked: what is wrong with them
    (nothing labelled, no features, too few labels) is said at once, before any fit."""
    kind = "naive" if subject == SUBJECT_NAIVE else f"tag:{tag.pk}"  # names change
    labelled = naive_labelled() if subject == SUBJECT_NAIVE else tag_labelled(tag)
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
    return ReportInputs(name, key, plan, X, len(labelled.image_ids) - len(found))


def report_cached(inputs: ReportInputs) -> LabelIssueReport | None:
    """The cached report of these very labels, if any (its count of images without features
    brought up to date)."""
    cached = cache.get(inputs.key)
    if cached is not None:
        cached.without_features = inputs.without_features
    return cached


def _fit(subject: str, inputs: ReportInputs, progress=None) -> LabelIssueReport:
    plan = inputs.plan
    X = inputs.X[plan.rows]
    try:
        if subject == SUBJECT_NAIVE:
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
