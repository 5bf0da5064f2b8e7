"""Predictions keyed on museum + object number, as CSV or JSON Lines, for re-import into the
collection system the records came from.

One row per object that has a prediction: the naive class `muses_classify` stored (of the
object's image the classifier was surest of) and, from a finished library prediction job,
each tag's highest score over the object's images and whether any image shows it. Images
that belong to no item (API uploads) have no key in a collection system and are left out.
"""

import codecs
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby

import numpy as np

from custom_tagging.models import PredictionJob
from custom_tagging.services.library import prediction_result_open
from muses.collection.models import Image
from muses.csv_export import SafeCsvWriter, formula_unquote
from muses.jobs.models import JobState
from publishing.exceptions import ExportFormatUnknown

FORMATS = {"csv": "text/csv", "jsonl": "application/x-ndjson"}
KEY_COLUMNS = ["museum", "object_number", "image_ids", "naive_class", "naive_probability"]
CHUNK_ROWS = 2000


@dataclass
class JobScores:
    """A library prediction job's CSV in memory: one row of scores and flags per image."""

    tag_names: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # image_id -> row
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    flags: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))


@dataclass
class ObjectPrediction:
    museum: str
    object_number: str
    image_ids: list[str]
    naive_class: str
    naive_probability: float | None
    tags: dict[str, dict]  # tag -> {"score", "prediction"}


def latest_prediction_job() -> PredictionJob | None:
    return PredictionJob.objects.filter(state=JobState.SUCCESS).order_by("-finished", "-id").first()


def predictions_export(*, job: PredictionJob | None, fmt: str) -> Iterator[str]:
    """The export as text chunks (CSV with a header row, or one JSON object per line)."""
    if fmt not in FORMATS:
        raise ExportFormatUnknown(f"unknown format {fmt!r}: use csv or jsonl")
    scores = job_scores(job=job) if job is not None else JobScores()
    objects = object_predictions(scores=scores)
    return _csv(objects, scores.tag_names) if fmt == "csv" else _jsonl(objects)


def job_scores(*, job: PredictionJob) -> JobScores:
    """Read the job's CSV (image_id, then '<tag>:score' and '<tag>:prediction' per tag);
    ResultNotReady when the job has not finished successfully."""
    with prediction_result_open(job=job) as handle:
        # Django's File yields lines on any storage (a local file or an S3 object).
        reader = csv.reader(codecs.iterdecode(handle, "utf-8"))
        header = [formula_unquote(cell) for cell in next(reader, ["image_id"])]
        tag_names = [column.rsplit(":", 1)[0] for column in header[1::2]]
        ids, values = [], []
        for row in reader:
            ids.append(formula_unquote(row[0]))
            values.append(row[1:])
    table = np.array(values, dtype=object).reshape(len(ids), 2 * len(tag_names))
    return JobScores(
        tag_names=tag_names,
        rows={image_id: n for n, image_id in enumerate(ids)},
        scores=table[:, 0::2].astype(np.float32),
        flags=table[:, 1::2] == "1",
    )


def object_predictions(*, scores: JobScores) -> Iterator[ObjectPrediction]:
    """Per object with at least one prediction, in museum and object-number order."""
    images = (
        Image.objects.filter(item__isnull=False)
        .order_by("item__museum", "item__object_number", "item_id", "id")
        .values_list(
            "item_id",
            "item__museum",
            "item__object_number",
            "image_id",
            "predicted_class",
            "predicted_probability",
        )
    )
    for _, rows in groupby(images.iterator(chunk_size=CHUNK_ROWS), key=lambda row: row[0]):
        prediction = _object_prediction(list(rows), scores)
        if prediction.naive_class or prediction.tags:
            yield prediction


def _object_prediction(rows: list[tuple], scores: JobScores) -> ObjectPrediction:
    classified = [row for row in rows if row[4]]
    best = max(classified, key=lambda row: row[5] or 0.0) if classified else None
    image_ids = [row[3] for row in rows]
    return ObjectPrediction(
        museum=rows[0][1],
        object_number=rows[0][2],
        image_ids=image_ids,
        naive_class=best[4] if best else "",
        naive_probability=round(best[5], 4) if best and best[5] is not None else None,
        tags=_object_tags(image_ids, scores),
    )


def _object_tags(image_ids: list[str], scores: JobScores) -> dict[str, dict]:
    """Each tag's highest score over the object's images; predicted when any image is."""
    rows = [scores.rows[i] for i in image_ids if i in scores.rows]
    if not rows or not scores.tag_names:
        return {}
    best = scores.scores[rows].max(axis=0)
    shown = scores.flags[rows].any(axis=0)
    return {
        name: {"score": round(float(score), 4), "prediction": bool(flag)}
        for name, score, flag in zip(scores.tag_names, best, shown)
    }


def _csv(objects: Iterator[ObjectPrediction], tag_names: list[str]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = SafeCsvWriter(buffer)
    tag_columns = [f"{name}:{kind}" for name in tag_names for kind in ("score", "prediction")]
    writer.writerow(KEY_COLUMNS + tag_columns)
    for count, item in enumerate(objects, start=1):
        writer.writerow(_csv_row(item, tag_names))
        if count % CHUNK_ROWS == 0:
            yield _drain(buffer)
    yield _drain(buffer)


def _csv_row(item: ObjectPrediction, tag_names: list[str]) -> list:
    probability = "" if item.naive_probability is None else item.naive_probability
    row = [item.museum, item.object_number, ";".join(item.image_ids), item.naive_class, probability]
    for name in tag_names:
        tag = item.tags.get(name)
        row += [tag["score"], int(tag["prediction"])] if tag else ["", ""]
    return row


def _jsonl(objects: Iterator[ObjectPrediction]) -> Iterator[str]:
    for item in objects:
        record = {
            "museum": item.museum,
            "object_number": item.object_number,
            "image_ids": item.image_ids,
            "naive_class": item.naive_class or None,
            "naive_probability": item.naive_probability,
            "tags": item.tags,
        }
        yield json.dumps(record, ensure_ascii=False) + "\n"


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
