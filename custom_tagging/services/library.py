"""Library-wide prediction: every stored image scored by the chosen tags into a CSV job result."""

import logging
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from custom_tagging import exceptions as errors
from custom_tagging.models import (
    PredictionJob,
)
from custom_tagging.scoring import ActiveModels, active_models, csv_lines
from custom_tagging.services.features import backbone_get
from muses.collection.media import local_path
from muses.csv_export import SafeCsvWriter
from muses.jobs.models import JobState
from muses.jobs.services import job_progress, job_succeed
from muses.vision.feature_index.handle import FeatureIndex, feature_index
from muses.vision.store import (
    features_extract,
    images_missing_features,
)

logger = logging.getLogger(__name__)

CSV_CHUNK_ROWS = 10_000


def library_predict(job: PredictionJob) -> None:
    """Score every stored image by the job's tags into a CSV file (the job's work)."""
    images_missing = images_missing_features(settings.MUSES_BACKBONE)
    if images_missing.exists():
        features_extract(images=images_missing, backbone=backbone_get())
    job_progress(model=PredictionJob, pk=job.pk, fraction=0.1)
    models = active_models(job.tag_names)
    index = feature_index()
    index.sync()  # rows another machine stored, deletions it made: the CSV is the library
    total = index.live_count()
    relative, written = _store_predictions_csv(
        f"predictions/{job.task_id}.csv", index, total, models, job
    )
    with transaction.atomic():
        done = job_succeed(
            model=PredictionJob,
            pk=job.pk,
            result=relative,
            rows=written,
            tag_names=models.tag_names,
        )
    if not done:
        default_storage.delete(relative)


def _store_predictions_csv(
    relative: str, index: FeatureIndex, total: int, models: ActiveModels, job
) -> tuple[str, int]:
    """Write the CSV into the media storage; (its stored name, rows). Remote storage gets
    it in one upload of a finished local file, which is atomic like the local rename."""
    target = local_path(relative)
    if target is not None:
        return relative, _write_predictions_csv(target, index, total, models, job)
    with tempfile.TemporaryDirectory(prefix="muses-predictions-") as tmp:
        staged = Path(tmp) / "predictions.csv"
        written = _write_predictions_csv(staged, index, total, models, job)
        with open(staged, "rb") as handle:
            return default_storage.save(relative, File(handle)), written


def _write_predictions_csv(
    target: Path, index: FeatureIndex, total: int, models: ActiveModels, job
) -> int:
    """image_id, then '<tag>:score' and '<tag>:prediction' (1/0) per tag, streamed from the
    shared index chunk by chunk (memory stays one chunk whatever the library); written
    under a temporary name and renamed, so a download never sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".predictions-", suffix=".csv")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = SafeCsvWriter(handle)
            writer.writerow(
                ["image_id"]
                + [f"{n}:{kind}" for n in models.tag_names for kind in ("score", "prediction")]
            )
            written = 0
            for image_ids, vectors in index.live_chunks(CSV_CHUNK_ROWS):
                handle.write(csv_lines(image_ids, models, models.scores(vectors)))
                written += len(image_ids)
                job_progress(
                    model=PredictionJob, pk=job.pk, fraction=0.1 + 0.9 * written / max(total, 1)
                )
        os.replace(tmp, target)
        return written
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prediction_result_open(*, job: PredictionJob) -> File:
    """The finished job's CSV, opened for reading from the media storage."""
    if job.state != JobState.SUCCESS or not job.result:
        raise errors.ResultNotReady(f"The task is {job.state}; its CSV is not ready.")
    try:
        return job.result.storage.open(job.result.name, "rb")
    except FileNotFoundError:
        gone = "The CSV file of this task is gone; run the job again."
        raise errors.ResultNotReady(gone) from None
