"""Predictions on request: one image, an upload, a batch of stored images; suggestions and
similar images.
"""

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings

from custom_tagging import exceptions as errors
from custom_tagging.learning import SCORE_SCALE, quantize
from custom_tagging.models import (
    CustomTag,
)
from custom_tagging.scoring import ActiveModels, active_models
from custom_tagging.selectors import tag_get, unlabelled_image_ids
from custom_tagging.services.features import (
    backbone_get,
    image_features_get,
    upload_features_compute,
    vectors_lookup,
)
from custom_tagging.services.tags import tag_name_validate
from muses.collection.models import Image
from muses.vision.feature_index.errors import IndexUnavailable
from muses.vision.feature_index.handle import feature_index
from muses.vision.feature_index.selectors import image_ids_of
from muses.vision.store import (
    compatible_features,
    features_extract,
)
from naive_classification.persistence import configured_model_value

logger = logging.getLogger(__name__)

MAX_BATCH_IMAGES = 100_000


def models_for_tag(*, name: str) -> ActiveModels:
    """The tag's active version ready to score: one query when it is trained; 404 for an
    unknown tag, 409 for one without a version."""
    name = tag_name_validate(name=name)
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
    return models.results(image_features_get(image=image)[None])[0]


def upload_predict(
    *, data: bytes, name: str = "", models: ActiveModels | None = None
) -> dict[str, dict]:
    """Per tag results for an uploaded image, for the given models (default: every
    trained tag)."""
    models = active_models() if models is None else models
    features, _ = upload_features_compute(data=data, name=name)
    return models.results(features[None])[0] if len(models) else {}


def upload_predict_all(*, data: bytes, name: str = "") -> dict:
    """Custom tags plus the base models: ImageNet keywords of the backbone's head, and the
    naive classifier's classes when a model is configured."""
    models = active_models()
    features, backbone = upload_features_compute(data=data, name=name)
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
    model_path = configured_model_value()
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


def batch_predict(*, image_ids: list[str], tag_names: list[str] | None = None) -> BatchPrediction:
    """Score many stored images by many tags with one matrix product. Ids without stored
    features are reported, not fatal; unknown or untrained tags are."""
    if not image_ids:
        raise errors.InvalidQuery("Pass image ids as image_id=a,b,c.")
    if len(image_ids) > MAX_BATCH_IMAGES:
        raise errors.InvalidQuery(f"At most {MAX_BATCH_IMAGES} image ids per call.")
    models = models_for_names(tag_names=tag_names)
    unique = list(dict.fromkeys(image_ids))
    found, vectors = vectors_lookup(index=feature_index(), image_ids=unique)
    known = set(found)
    unknown = [i for i in unique if i not in known] if len(found) < len(unique) else []
    pending, detail = [], ""
    if unknown:
        unknown, pending, detail = _missing_features_compute(image_ids=unknown)
        if len(pending) + len(unknown) < len(set(unique) - known):  # some were computed
            found, vectors = vectors_lookup(index=feature_index(), image_ids=unique)
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


def models_for_names(*, tag_names: list[str] | None) -> ActiveModels:
    if not tag_names:
        return active_models()
    names = list(dict.fromkeys(tag_name_validate(name=n) for n in tag_names))
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
        blocks = feature_index().sample_blocks(settings.MUSES_SUGGEST_MAX_ROWS)
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
        query = feature_index().vector_of_image(image.pk)  # no query when it is indexed
        if query is None:
            query = image_features_get(image=image)
        # One more than asked: the image itself is usually its own nearest.
        nearest = feature_index().nearest(query, n + 1)
    except IndexUnavailable as exc:
        raise errors.FeaturesUnavailable(str(exc))
    names = image_ids_of(pk for pk, _ in nearest)
    picked = [(names[pk], sim) for pk, sim in nearest if pk in names and pk != image.pk]
    return [{"image_id": i, "similarity": round(sim, 4)} for i, sim in picked[:n]]
