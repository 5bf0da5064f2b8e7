"""Custom-tagging workflows: images, assignments, training, versions, jobs, predictions.

Views, tasks and commands call these; every function is keyword-only and raises the API
exceptions of :mod:`custom_tagging.exceptions` for anything a caller can get wrong.
"""

import csv
import logging
import os
import tempfile
import threading
import time
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone
from django_q.tasks import async_task

from custom_tagging import exceptions as errors
from custom_tagging.learning import SCORE_SCALE, TagClassifier, quantize
from custom_tagging.models import (
    TAG_NAME_MAX_LENGTH,
    UNFINISHED_STATES,
    Assignment,
    CustomTag,
    JobState,
    PredictionJob,
    TagVersion,
    TrainingJob,
)
from custom_tagging.scoring import ActiveModels, active_models, csv_lines
from custom_tagging.selectors import unlabelled_image_ids
from custom_tagging.workers import job_is_unserved
from muses.collection import services as collection
from muses.collection.media import local_path
from muses.collection.models import Image
from muses.vision.backbones import Backbone, BackboneUnavailable, get_backbone
from muses.vision.decode import DecodedImage, ImageDecodeError
from muses.vision.index import FeatureIndex, IndexUnavailable, feature_index, image_ids_of
from muses.vision.store import (
    compatible_features,
    extraction_announced,
    features_extract,
    features_of_pixels,
    image_features_compute,
    image_features_store,
    images_missing_features,
)

logger = logging.getLogger(__name__)

FORBIDDEN_TAG_CHARACTERS = "/,"
MAX_BATCH_IMAGES = 100_000
# A running job older than the queue's timeout plus this margin lost its worker.
STALE_MARGIN_S = 120
# How long a worker waits for a job row it cannot see yet.
JOB_ROW_WAIT_S = 10.0
CSV_CHUNK_ROWS = 10_000
TRAIN_TASK = "custom_tagging.tasks.tag_train_task"
TRAIN_HOOK = "custom_tagging.tasks.tag_train_hook"
LIBRARY_TASK = "custom_tagging.tasks.library_predict_task"
LIBRARY_HOOK = "custom_tagging.tasks.library_predict_hook"


# --- backbone and features ------------------------------------------------------------


def backbone_get() -> Backbone:
    try:
        return get_backbone()
    except BackboneUnavailable as exc:
        raise errors.BackboneNotReady(str(exc))


def upload_features(*, data: bytes, name: str = "") -> tuple[np.ndarray, Backbone]:
    """Decode an upload and run it through the backbone (batched with concurrent calls)."""
    _, vector, backbone = _decoded_upload(data, name)
    return vector, backbone


def _decoded_upload(data: bytes, name: str) -> tuple[DecodedImage, np.ndarray, Backbone]:
    """(decoded image, its features, the backbone) of an upload; 400 if it is no image."""
    backbone = backbone_get()
    with extraction_announced(backbone):
        try:
            decoded = backbone.decode(data, name=name or "upload")
        except ImageDecodeError as exc:
            raise errors.InvalidImage(str(exc))
        return decoded, features_of_pixels(backbone.preprocess(decoded.image), backbone), backbone


def shared_index() -> FeatureIndex:
    """The machine's index of the configured backbone's stored vectors."""
    return feature_index(settings.MUSES_BACKBONE)


def _vectors_of(index: FeatureIndex, image_ids: list[str]) -> tuple[list[str], np.ndarray]:
    """Stored vectors of these image ids, by index look-up (cost O(ids)); 503 while the
    machine's index is being rebuilt."""
    try:
        return index.vectors_of(image_ids)
    except IndexUnavailable as exc:
        raise errors.FeaturesUnavailable(str(exc))


def stored_features(*, image: Image) -> np.ndarray:
    """The image's stored vector; computed once for an imported image that has none."""
    row = compatible_features(settings.MUSES_BACKBONE).filter(image=image).first()
    if row is not None:
        return row.as_array()
    try:
        return image_features_compute(image=image, backbone=backbone_get())
    except ImageDecodeError as exc:
        raise errors.InvalidImage(str(exc))


# --- images ---------------------------------------------------------------------------


def image_get(*, image_id: str) -> Image:
    image = Image.objects.filter(image_id=image_id).first()
    if image is None:
        raise errors.ImageNotFound(f"No image with image_id {image_id!r}.")
    return image


def image_add(*, data: bytes, name: str = "", image_id: str | None = None) -> Image:
    """Store an upload and its features in one transaction, or nothing at all."""
    if image_id is not None:
        _validate_image_id(image_id)
    decoded, vector, backbone = _decoded_upload(data, name)
    try:
        return collection.image_store(
            data=data,
            name=name,
            image_id=image_id,
            decoded=decoded,
            then=lambda image: image_features_store(image, backbone, vector),
        )
    except collection.ImageIdTaken as exc:
        raise errors.ImageIdTaken(f"{exc}; nothing was overwritten.")
    except collection.ImageIdError as exc:
        raise errors.InvalidImageId(str(exc))


def _validate_image_id(image_id: str) -> None:
    try:
        collection.image_id_validate(image_id)
    except collection.ImageIdError as exc:
        raise errors.InvalidImageId(str(exc))


# --- tags and assignments -------------------------------------------------------------


def tag_name_validate(name: str) -> str:
    """NFC-normalised name; any Unicode including inner spaces, but no '/' or ','."""
    name = unicodedata.normalize("NFC", name)
    if not name.strip():
        raise errors.InvalidTagName("A tag name cannot be empty.")
    if name != name.strip():
        raise errors.InvalidTagName("A tag name cannot start or end with whitespace.")
    if len(name) > TAG_NAME_MAX_LENGTH:
        raise errors.InvalidTagName(
            f"A tag name can have at most {TAG_NAME_MAX_LENGTH} characters; "
            f"this one has {len(name)}."
        )
    if any(c in FORBIDDEN_TAG_CHARACTERS for c in name):
        raise errors.InvalidTagName(
            "A tag name cannot contain '/' (it is one URL path segment) or ',' "
            "(it separates tags in /custom/predict_batch)."
        )
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise errors.InvalidTagName("A tag name cannot contain control characters.")
    invisible = [c for c in name if _is_invisible(c)]
    if invisible:
        raise errors.InvalidTagName(
            f"A tag name cannot contain invisible or direction-changing characters "
            f"(U+{ord(invisible[0]):04X}): two such names would look identical."
        )
    return name


# Joiners are part of how some scripts and emoji are written; other format characters
# (zero-width space, bidi overrides), line separators and unusual spaces only make
# look-alike names.
VISIBLE_FORMAT_CHARACTERS = {"\u200c", "\u200d"}


def _is_invisible(character: str) -> bool:
    category = unicodedata.category(character)
    if category == "Cf":
        return character not in VISIBLE_FORMAT_CHARACTERS
    return category in ("Zl", "Zp") or (category == "Zs" and character != " ")


def tag_get(*, name: str) -> CustomTag:
    name = tag_name_validate(name)
    tag = CustomTag.objects.filter(name=name).first()
    if tag is None:
        raise errors.TagNotFound(f"No custom tag named {name!r}.")
    return tag


def tag_get_or_create(*, name: str) -> CustomTag:
    tag, _ = CustomTag.objects.get_or_create(name=tag_name_validate(name))
    return tag


def tag_create(*, name: str, target_precision: float | None = None) -> CustomTag:
    name = tag_name_validate(name)
    with transaction.atomic():
        tag, created = CustomTag.objects.get_or_create(
            name=name, defaults={"target_precision": target_precision}
        )
    if not created:
        raise errors.TagExists(f"A custom tag named {name!r} already exists.")
    return tag


def tag_update(*, tag: CustomTag, target_precision: float | None) -> CustomTag:
    tag.target_precision = target_precision
    tag.save(update_fields=["target_precision"])
    return tag


def label_validate(label: str) -> str:
    if label not in Assignment.Label.values:
        raise errors.InvalidSampleType(
            f"The type must be 'positive' or 'negative', not {label[:50]!r}."
        )
    return label


def assignment_set(*, image: Image, tag_name: str, label: str, user=None) -> Assignment:
    """Mark an image as a positive or negative example; a new name creates the tag and
    re-assigning switches the label."""
    label = label_validate(label)
    tag = tag_get_or_create(name=tag_name)
    assignment, _ = Assignment.objects.update_or_create(
        tag=tag, image=image, defaults={"label": label, "assigned_by": user}
    )
    return assignment


def assignment_delete(*, tag: CustomTag, image: Image) -> None:
    deleted, _ = Assignment.objects.filter(tag=tag, image=image).delete()
    if not deleted:
        raise errors.ImageNotFound(f"Image {image.image_id!r} is not assigned to {tag.name!r}.")


def tag_counts(*, tag: CustomTag) -> dict[str, int]:
    counts = dict(tag.assignments.values_list("label").annotate(n=Count("id")))
    return {label: counts.get(label, 0) for label in Assignment.Label.values}


def tag_reset(*, tag: CustomTag) -> dict:
    """Forget the tag: its versions and assignments; unfinished trainings are cancelled."""
    summary = {
        "tag": tag.name,
        "versions_deleted": tag.versions.count(),
        "assignments_deleted": tag.assignments.count(),
    }
    with transaction.atomic():
        tag.jobs.filter(state__in=UNFINISHED_STATES).update(
            state=JobState.CANCELLED, finished=timezone.now(), error="The tag was reset."
        )
        tag.delete()
    return summary


# --- training -------------------------------------------------------------------------


def training_data_check(*, tag: CustomTag) -> dict[str, int]:
    counts = tag_counts(tag=tag)
    missing = [label for label, n in counts.items() if n == 0]
    if missing:
        raise errors.TrainingDataMissing(
            f"Tag {tag.name!r} has no {' and no '.join(missing)} images: assign at least one "
            "of each with /custom/assign/<image_id>/<positive|negative>/<tag>."
        )
    return counts


def tag_train_enqueue(*, tag: CustomTag, user=None) -> TrainingJob:
    """Create the job (visible in /status at once), then queue its django-q2 task."""
    training_data_check(tag=tag)
    with transaction.atomic():
        CustomTag.objects.select_for_update().filter(pk=tag.pk).first()
        running = tag.jobs.filter(state__in=UNFINISHED_STATES).first()
        if running is not None and job_expire_if_stale(running).state in UNFINISHED_STATES:
            raise errors.TrainingInProgress(
                f"A training of {tag.name!r} is already {running.state} "
                f"(task_id {running.task_id})."
            )
        job = TrainingJob.objects.create(tag=tag, tag_name=tag.name, requested_by=user)
    _enqueue(job, TRAIN_TASK, TRAIN_HOOK, task_name=f"train {tag.name}"[:100])
    job.refresh_from_db()
    return job


def _enqueue(job, func: str, hook: str, *, task_name: str) -> None:
    try:
        async_task(func, job.pk, hook=hook, task_name=task_name)
    except Exception as exc:  # the broker is down: the job must not wait forever
        job_fail(model=type(job), pk=job.pk, message=f"Could not queue the task: {exc}")
        raise errors.QueueUnavailable(f"The job queue is not available: {exc}")


def training_job_run(*, job_pk: int) -> TrainingJob | None:
    """Run a queued training; any failure ends in state 'error' with its message and the
    tag's previous version stays active."""
    if not job_start(model=TrainingJob, pk=job_pk):
        return TrainingJob.objects.filter(pk=job_pk).first()
    job = TrainingJob.objects.select_related("tag").get(pk=job_pk)
    try:
        if job.tag is None:
            raise errors.TagNotFound("The tag was reset before its training started.")
        with job_heartbeat(model=TrainingJob, pk=job.pk):
            tag_train(tag=job.tag, job=job)
    except errors.JobCancelled:
        pass
    except Exception as exc:
        logger.warning("training %s of %r failed: %s", job.task_id, job.tag_name, exc)
        job_fail(model=TrainingJob, pk=job.pk, message=_error_message(exc))
    job.refresh_from_db()
    return job


def _error_message(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def tag_train(*, tag: CustomTag, job: TrainingJob | None = None) -> TagVersion:
    """Fit the tag on its assigned images' stored features, cross-validate, and make the
    result the new active version (atomically with the job's success)."""

    def progress(fraction: float) -> None:
        if job is not None:
            job_progress(model=TrainingJob, pk=job.pk, fraction=0.05 + 0.9 * fraction)

    features, labels, digest = training_data(tag=tag)
    progress(0.0)
    classifier = TagClassifier(target_precision=tag.target_precision).fit(
        features, labels, progress=progress
    )
    return version_create(tag=tag, classifier=classifier, weights_digest=digest, job=job)


def training_data(*, tag: CustomTag) -> tuple[np.ndarray, np.ndarray, str]:
    """(features, 0/1 labels, weights digest) of the tag's assigned images; features
    missing for imported images are computed first."""
    training_data_check(tag=tag)
    labels = dict(tag.assignments.values_list("image__image_id", "label"))
    index = shared_index()
    tagged = Image.objects.filter(tag_assignments__tag=tag)  # one join, not 10,000 ids
    found, features = _vectors_of(index, tagged)
    if len(found) < len(labels):
        missing = images_missing_features(settings.MUSES_BACKBONE)
        features_extract(images=missing.filter(tag_assignments__tag=tag), backbone=backbone_get())
        found, features = _vectors_of(index, tagged)
    y = np.array([labels[i] == Assignment.Label.POSITIVE for i in found], dtype=np.int8)
    if y.sum() == 0 or y.sum() == len(y):
        raise errors.TrainingDataMissing(
            f"Tag {tag.name!r} has no usable {'positive' if y.sum() == 0 else 'negative'} "
            "images: their features could not be computed."
        )
    return features, y, _weights_digest(tag)


def _weights_digest(tag: CustomTag) -> str:
    digests = (
        compatible_features(settings.MUSES_BACKBONE)
        .filter(image__tag_assignments__tag=tag)
        .values_list("weights_digest", flat=True)
    )
    return next(iter(digests[:1]), "")  # any row: first() would sort the whole join


def version_create(
    *,
    tag: CustomTag,
    classifier: TagClassifier,
    weights_digest: str,
    job: TrainingJob | None = None,
    activate: bool = True,
) -> TagVersion:
    """Store a fitted classifier as the tag's next version and activate it; with a job,
    the job's success is part of the same transaction (a cancelled job leaves nothing)."""
    with transaction.atomic():
        if CustomTag.objects.select_for_update().filter(pk=tag.pk).first() is None:
            raise errors.TagNotFound(f"The tag {tag.name!r} was reset during training.")
        number = (tag.versions.aggregate(m=Max("number"))["m"] or 0) + 1
        if activate:
            tag.versions.filter(is_active=True).update(is_active=False)
        version = TagVersion.objects.create(
            tag=tag,
            number=number,
            is_active=activate,
            backbone=settings.MUSES_BACKBONE,
            weights_digest=weights_digest,
            feature_dim=len(classifier.coef_),
            coef=classifier.coef_.astype("<f4").tobytes(),
            intercept=classifier.intercept_,
            threshold=classifier.threshold_,
            metrics=classifier.metrics_,
            positives=classifier.positives_,
            negatives=classifier.negatives_,
        )
        if job is not None and not _job_succeed(job=job, version=version):
            raise errors.JobCancelled()
    return version


def version_get(*, tag: CustomTag, number: int) -> TagVersion:
    version = tag.versions.filter(number=number).first()
    if version is None:
        raise errors.VersionNotFound(f"Tag {tag.name!r} has no version {number}.")
    return version


def version_activate(*, tag: CustomTag, number: int) -> TagVersion:
    """Roll back (or forward) to another version of the tag."""
    version = version_get(tag=tag, number=number)
    if version.backbone != settings.MUSES_BACKBONE:
        raise errors.VersionIncompatible(
            f"Version {number} of {tag.name!r} was trained on {version.backbone!r} features; "
            f"the configured backbone is {settings.MUSES_BACKBONE!r}."
        )
    with transaction.atomic():
        tag.versions.filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
        TagVersion.objects.filter(pk=version.pk).update(is_active=True)
    version.refresh_from_db()
    return version


# --- jobs -----------------------------------------------------------------------------


JOB_MODELS = (TrainingJob, PredictionJob)


def job_get(*, task_id: str) -> TrainingJob | PredictionJob:
    for model in JOB_MODELS:
        job = model.objects.filter(task_id=task_id).first()
        if job is not None:
            return job_expire_if_stale(job)
    raise errors.JobNotFound(f"No task with task_id {task_id[:64]!r}.")


def job_start(*, model, pk: int) -> bool:
    """Queued -> running; False when the job was cancelled or already taken. A worker can
    see the task before the job row is committed (a caller inside a transaction), so a
    missing row is waited for a little."""
    deadline = time.monotonic() + JOB_ROW_WAIT_S
    while True:
        started = model.objects.filter(pk=pk, state=JobState.QUEUED).update(
            state=JobState.RUNNING, started=timezone.now(), progress=0.0
        )
        if started or model.objects.filter(pk=pk).exists() or time.monotonic() > deadline:
            return bool(started)
        time.sleep(0.2)


def job_progress(*, model, pk: int, fraction: float) -> None:
    """Record progress; raises JobCancelled when someone cancelled the job meanwhile."""
    updated = model.objects.filter(pk=pk, state=JobState.RUNNING).update(
        progress=round(min(max(fraction, 0.0), 1.0), 3)
    )
    if not updated:
        raise errors.JobCancelled()


def job_fail(*, model, pk: int, message: str) -> None:
    model.objects.filter(pk=pk, state__in=UNFINISHED_STATES).update(
        state=JobState.ERROR, error=message[:5000], finished=timezone.now()
    )


def _job_succeed(*, job: TrainingJob, version: TagVersion) -> bool:
    return bool(
        TrainingJob.objects.filter(pk=job.pk, state=JobState.RUNNING).update(
            state=JobState.SUCCESS, progress=1.0, finished=timezone.now(), version=version
        )
    )


def job_cancel(*, task_id: str) -> TrainingJob | PredictionJob:
    """Cancel a queued or running job: a queued one never starts, a running one stops at
    its next progress report and leaves nothing behind."""
    job = job_get(task_id=task_id)
    cancelled = (
        type(job)
        .objects.filter(pk=job.pk, state__in=UNFINISHED_STATES)
        .update(state=JobState.CANCELLED, finished=timezone.now(), error="Cancelled on request.")
    )
    if not cancelled:
        raise errors.JobNotCancellable(f"The task is already {job.state}; it cannot be cancelled.")
    job.refresh_from_db()
    return job


def job_expire_if_stale(job):
    """A job still 'running' whose worker's heartbeat stopped, or long after the queue's
    timeout, lost its worker (killed, out of memory): say so instead of showing it running
    forever. django-q2 records nothing when a worker process dies mid-task, and with the
    Redis broker the task is not delivered again. A job still 'queued' that no worker
    will take (none alive, or all idle yet not taking it) fails too (custom_tagging.workers)."""
    if job.state == JobState.QUEUED:
        return _job_fail_if_unserved(job)
    if job.state != JobState.RUNNING or not _job_is_stale(job):
        return job
    type(job).objects.filter(pk=job.pk, state=JobState.RUNNING).update(
        state=JobState.ERROR,
        finished=timezone.now(),
        error="The worker stopped without reporting (killed or timed out).",
    )
    job.refresh_from_db()
    return job


def _job_fail_if_unserved(job):
    reason = job_is_unserved(job)
    if reason:
        type(job).objects.filter(pk=job.pk, state=JobState.QUEUED).update(
            state=JobState.ERROR, finished=timezone.now(), error=reason
        )
        job.refresh_from_db()
    return job


def _job_is_stale(job) -> bool:
    if job.started is not None and job.started <= _stale_before():
        return True
    stale_s = settings.MUSES_JOB_HEARTBEAT_STALE_S
    return job.heartbeat is not None and job.heartbeat <= timezone.now() - timedelta(
        seconds=stale_s
    )


def _stale_before():
    timeout = int(settings.Q_CLUSTER.get("timeout") or 3600)
    return timezone.now() - timedelta(seconds=timeout + STALE_MARGIN_S)


@contextmanager
def job_heartbeat(*, model, pk: int):
    """In a queue worker, a thread stamps the running job's heartbeat every
    MUSES_JOB_HEARTBEAT_S seconds until the block ends, so a status read can tell a slow
    job from one whose worker died. In sync mode the job runs inside the request and
    nothing is stamped: only the queue's timeout applies."""
    if settings.Q_CLUSTER.get("sync"):
        yield
        return
    interval = settings.MUSES_JOB_HEARTBEAT_S
    stop = threading.Event()

    def beat() -> None:
        try:
            while True:
                try:
                    model.objects.filter(pk=pk, state=JobState.RUNNING).update(
                        heartbeat=timezone.now()
                    )
                except Exception as exc:  # the database is away a moment: beat again later
                    logger.warning("heartbeat of job %s failed: %s", pk, exc)
                    db_connection.close()
                if stop.wait(interval):
                    return
        finally:
            db_connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"job-heartbeat-{pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def job_task_failed(*, model, pk: int, result: object) -> None:
    """django-q2 reported the task itself as failed (timeout, crash outside our handler)."""
    text = str(result or "The task failed.")
    job_fail(model=model, pk=pk, message=text.split(" : Traceback")[0][:2000])


# --- predictions ----------------------------------------------------------------------


def models_for_tag(*, name: str) -> ActiveModels:
    """The tag's active version ready to score: one query when it is trained; 404 for an
    unknown tag, 409 for one without a version."""
    name = tag_name_validate(name)
    models = active_models([name])
    if len(models) == 0:
        tag_get(name=name)
        raise errors.TagNotTrained(f"Tag {name!r} has no trained version yet: train it first.")
    return models


def image_predictions(*, image: Image, models: ActiveModels | None = None) -> dict[str, dict]:
    """{tag: {"score", "prediction", "threshold", "version"}} from the stored features, for
    the given models (default: every trained tag)."""
    models = active_models() if models is None else models
    if len(models) == 0:
        return {}
    return models.results(stored_features(image=image)[None])[0]


def upload_predictions(
    *, data: bytes, name: str = "", models: ActiveModels | None = None
) -> dict[str, dict]:
    """Per tag results for an uploaded image, for the given models (default: every
    trained tag)."""
    models = active_models() if models is None else models
    features, _ = upload_features(data=data, name=name)
    return models.results(features[None])[0] if len(models) else {}


def upload_predict_all(*, data: bytes, name: str = "") -> dict:
    """Custom tags plus the base models: ImageNet keywords of the backbone's head, and the
    naive classifier's classes when a model is configured."""
    models = active_models()
    features, backbone = upload_features(data=data, name=name)
    reply = {
        "custom": models.results(features[None])[0] if len(models) else {},
        "imagenet_keywords": [
            {"keyword": keyword, "score": round(score, 4)}
            for keyword, score in backbone.keywords(features[None])[0]
        ],
    }
    naive = naive_classification_predict(data=data, name=name)
    if naive is not None:
        reply["naive_classification"] = naive
    return reply


def naive_classification_predict(*, data: bytes, name: str = "") -> dict | None:
    """The naive classifier's {class: probability}, or None when no model is configured."""
    config = getattr(settings, "MUSES_CONFIG", {})
    model_path = config.get("classification", {}).get("naive_classification", {}).get("model_path")
    if not model_path:
        return None
    try:
        from naive_classification.helpers import predict_image_path_dict
    except ImportError as exc:
        return {"error": f"The naive classifier is not installed ({exc})."}
    suffix = Path(name).suffix or ".img"
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        handle.write(data)
        handle.flush()
        try:
            classes = predict_image_path_dict(handle.name, model_path=model_path)
        except Exception as exc:  # a broken model must not break the other predictions
            logger.warning("naive classification failed: %s", exc)
            return {"error": f"The naive classifier failed: {exc}"}
    return {"classes": {str(k): round(float(v), 4) for k, v in dict(classes).items()}}


@dataclass
class BatchPrediction:
    image_ids: list[str]
    unknown_image_ids: list[str]
    models: ActiveModels
    scores: np.ndarray  # (len(image_ids), len(models)) probabilities
    # Stored images whose features are not computed (yet), and why.
    pending_image_ids: list[str] = field(default_factory=list)
    pending_detail: str = ""


def predict_batch(*, image_ids: list[str], tag_names: list[str] | None = None) -> BatchPrediction:
    """Score many stored images by many tags with one matrix product. Ids without stored
    features are reported, not fatal; unknown or untrained tags are."""
    if not image_ids:
        raise errors.InvalidQuery("Pass image ids as image_id=a,b,c.")
    if len(image_ids) > MAX_BATCH_IMAGES:
        raise errors.InvalidQuery(f"At most {MAX_BATCH_IMAGES} image ids per call.")
    models = _models_for_names(tag_names)
    unique = list(dict.fromkeys(image_ids))
    found, vectors = _vectors_of(shared_index(), unique)
    known = set(found)
    unknown = [i for i in unique if i not in known] if len(found) < len(unique) else []
    pending, detail = [], ""
    if unknown:
        unknown, pending, detail = _missing_features_compute(image_ids=unknown)
        if len(pending) + len(unknown) < len(set(unique) - known):  # some were computed
            found, vectors = _vectors_of(shared_index(), unique)
    return BatchPrediction(found, unknown, models, models.scores(vectors), pending, detail)


def _missing_features_compute(*, image_ids: list[str]) -> tuple[list[str], list[str], str]:
    """For ids with no stored vector: (unknown ids, pending ids, why they are pending).
    Stored images among them get their features computed here, in batches, up to
    MUSES_BATCH_COMPUTE_MAX per request (a request must not turn into a library-wide
    extraction); the rest, and images that cannot be decoded, are reported pending."""
    stored = {}
    for start in range(0, len(image_ids), 1000):  # SQLite's limit on query parameters
        chunk = image_ids[start : start + 1000]
        stored.update(Image.objects.filter(image_id__in=chunk).in_bulk(field_name="image_id"))
    unknown = [i for i in image_ids if i not in stored]
    if not stored:
        return unknown, [], ""
    bound = settings.MUSES_BATCH_COMPUTE_MAX
    waiting = [stored[i] for i in image_ids if i in stored]
    now, later = waiting[:bound], waiting[bound:]
    if now:
        features_extract(images=now, backbone=backbone_get())
    have = set(
        compatible_features(settings.MUSES_BACKBONE)
        .filter(image__in=now)
        .values_list("image__image_id", flat=True)
    )
    failed = [image.image_id for image in now if image.image_id not in have]
    pending = failed + [image.image_id for image in later]
    reasons = []
    if failed:
        reasons.append(f"{len(failed)} stored image(s) could not be decoded")
    if later:
        reasons.append(
            f"{len(later)} stored image(s) have no features yet: a request computes at most "
            f"{bound}; the queue worker computes the rest after an import, or run "
            "`manage.py muses_extract_features`"
        )
    return unknown, pending, "; ".join(reasons) + ("." if reasons else "")


def _models_for_names(tag_names: list[str] | None) -> ActiveModels:
    if not tag_names:
        return active_models()
    names = list(dict.fromkeys(tag_name_validate(n) for n in tag_names))
    models = active_models(names)
    if len(models) == len(names):
        return models  # one query on the request path; the checks below explain a miss
    known = set(CustomTag.objects.filter(name__in=names).values_list("name", flat=True))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise errors.TagNotFound(f"No custom tag named {', '.join(map(repr, unknown))}.")
    untrained = [n for n in names if n not in set(models.tag_names)]
    if untrained:
        raise errors.TagNotTrained(
            f"No trained version for {', '.join(map(repr, untrained))}: train first."
        )
    return models


def tag_suggest(*, tag: CustomTag, n: int = 20) -> list[dict]:
    """Stored, not yet assigned images the active model is least sure of: label these next."""
    models = models_for_tag(name=tag.name)
    pks, scores = _least_certain(models, settings.MUSES_SUGGEST_MAX_ROWS)  # all, closest first
    picked: list[tuple[str, float]] = []
    start, window = 0, 2 * n + 10
    while start < len(pks) and len(picked) < n:
        # The database has the last word (an image deleted elsewhere is gone, one labelled
        # already is not suggested); asked in windows that double, so a tag with 10,000
        # labels neither loads them nor asks 10,000 candidates one window at a time.
        chunk = list(zip(pks[start : start + window].tolist(), scores[start : start + window]))
        names = unlabelled_image_ids(tag=tag, image_pks=[pk for pk, _ in chunk])
        picked += [(names[pk], score) for pk, score in chunk if pk in names]
        start, window = start + window, window * 2
    picked = picked[:n]
    return [
        {"image_id": image_id, "score": int(quantize(score)) / SCORE_SCALE}
        for image_id, score in picked
    ]


def _least_certain(models: ActiveModels, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(image pks, scores) of the k live rows scored closest to the threshold, closest
    first; at most MUSES_SUGGEST_MAX_ROWS rows are scored (random blocks past that)."""
    threshold = models.thresholds[0]
    best_pks, best_scores = [np.zeros(0, np.int64)], [np.zeros(0, np.float32)]
    try:
        blocks = shared_index().sample_blocks(settings.MUSES_SUGGEST_MAX_ROWS)
        for image_pks, vectors, live in blocks:
            scores = models.scores(vectors)[:, 0]
            margin = np.where(live, np.abs(scores - threshold), np.inf)
            top = _closest(margin, min(k, int(live.sum())))
            best_pks.append(image_pks[top])
            best_scores.append(scores[top])
    except IndexUnavailable as exc:
        raise errors.FeaturesUnavailable(str(exc))
    pks, scores = np.concatenate(best_pks), np.concatenate(best_scores)
    order = _closest(np.abs(scores - threshold), k)
    return pks[order], scores[order]


def _closest(margin: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k smallest margins, smallest first (ties by position)."""
    if k < len(margin):
        part = np.argpartition(margin, k - 1)[:k]
        return part[np.lexsort((part, margin[part]))]
    return np.argsort(margin, kind="stable")


def image_similar(*, image: Image, n: int = 10) -> list[dict]:
    """Nearest stored images by cosine similarity of their features."""
    try:
        query = shared_index().vector_of_image(image.pk)  # no query when it is indexed
        if query is None:
            query = stored_features(image=image)
        # One more than asked: the image itself is usually its own nearest.
        nearest = shared_index().nearest(query, n + 1)
    except IndexUnavailable as exc:
        raise errors.FeaturesUnavailable(str(exc))
    names = image_ids_of(pk for pk, _ in nearest)
    picked = [(names[pk], sim) for pk, sim in nearest if pk in names and pk != image.pk]
    return [{"image_id": i, "similarity": round(sim, 4)} for i, sim in picked[:n]]


# --- library-wide prediction ----------------------------------------------------------


def library_prediction_create(*, tag_names: list[str] | None = None, user=None) -> PredictionJob:
    """Queue scoring of every stored image by the chosen tags (all trained tags if none)."""
    models = _models_for_names(tag_names)
    if len(models) == 0:
        raise errors.TagNotTrained("No tag has a trained version yet: train one first.")
    job = PredictionJob.objects.create(tag_names=models.tag_names, requested_by=user)
    _enqueue(job, LIBRARY_TASK, LIBRARY_HOOK, task_name="library prediction")
    job.refresh_from_db()
    return job


def library_prediction_run(*, job_pk: int) -> PredictionJob | None:
    if not job_start(model=PredictionJob, pk=job_pk):
        return PredictionJob.objects.filter(pk=job_pk).first()
    job = PredictionJob.objects.get(pk=job_pk)
    try:
        with job_heartbeat(model=PredictionJob, pk=job.pk):
            _library_predict(job)
    except errors.JobCancelled:
        pass
    except Exception as exc:
        logger.warning("library prediction %s failed: %s", job.task_id, exc)
        job_fail(model=PredictionJob, pk=job.pk, message=_error_message(exc))
    job.refresh_from_db()
    return job


def _library_predict(job: PredictionJob) -> None:
    images_missing = images_missing_features(settings.MUSES_BACKBONE)
    if images_missing.exists():
        features_extract(images=images_missing, backbone=backbone_get())
    job_progress(model=PredictionJob, pk=job.pk, fraction=0.1)
    models = active_models(job.tag_names)
    index = shared_index()
    index.sync()  # rows another machine stored, deletions it made: the CSV is the library
    total = index.live_count()
    relative, written = _store_predictions_csv(
        f"predictions/{job.task_id}.csv", index, total, models, job
    )
    with transaction.atomic():
        done = PredictionJob.objects.filter(pk=job.pk, state=JobState.RUNNING).update(
            state=JobState.SUCCESS,
            progress=1.0,
            finished=timezone.now(),
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
            writer = csv.writer(handle)
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


def assignments_set_many(*, tag: CustomTag, images, label: str, user=None) -> int:
    """Mark every image of a queryset as a positive or negative example of the tag; one
    upsert per 500 images, re-labelling those already assigned."""
    label = label_validate(label)
    rows = [
        Assignment(tag=tag, image_id=pk, label=label, assigned_by=user)
        for pk in images.values_list("pk", flat=True)
    ]
    with transaction.atomic():
        Assignment.objects.bulk_create(
            rows,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["tag", "image"],
            update_fields=["label", "assigned_by", "updated"],
        )
    return len(rows)


def assignments_remove_many(*, tag: CustomTag, images) -> int:
    deleted, _ = Assignment.objects.filter(tag=tag, image__in=images.values("pk")).delete()
    return deleted
