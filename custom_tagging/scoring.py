"""Scoring many images by many tags at once: one matrix product on stored features.

Each tag's active version is a weight vector on raw features, so a (n, d) feature matrix
times the (d, t) stacked weights scores n images by t tags. The batch reply is rendered
straight to JSON text from precomputed fragments: building and encoding 200,000 small dicts
would cost several times the scoring itself.
"""

import json
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from django.conf import settings

from custom_tagging.learning import SCORE_SCALE, quantize, sigmoid
from custom_tagging.models import TagVersion
from muses.csv_export import formula_safe

# "0", "0.0001", ..., "0.9999", "1": the JSON text of every quantized score.
SCORE_TEXT = np.array(
    [f"{q / SCORE_SCALE:.4f}".rstrip("0").rstrip(".") for q in range(SCORE_SCALE + 1)],
    dtype=object,
)
SCORE_TEXT[0] = "0.0"
SCORE_TEXT[SCORE_SCALE] = "1.0"
# Cell tables of this many tag versions stay in memory (about 1 MB each).
TABLE_CACHE_SIZE = 32


@dataclass(frozen=True)
class ActiveModels:
    """The active versions of some tags, stacked for scoring."""

    tag_names: list[str]
    versions: list[int]
    thresholds: np.ndarray  # (t,) float, 4 decimals
    weights: np.ndarray  # (d, t) float32
    intercepts: np.ndarray  # (t,) float32

    def __len__(self) -> int:
        return len(self.tag_names)

    def scores(self, features: np.ndarray) -> np.ndarray:
        """(n, d) features -> (n, t) probabilities."""
        if len(self) == 0 or len(features) == 0:
            # No rows (nothing stored yet has no dimension to multiply by): no scores.
            return np.zeros((len(features), len(self)), np.float32)
        return sigmoid(np.asarray(features, np.float32) @ self.weights + self.intercepts)

    def results(self, features: np.ndarray) -> list[dict[str, dict]]:
        """Per image, per tag: {"score", "prediction", "threshold", "version"}."""
        quantized = quantize(self.scores(features))
        cutoffs = quantize(self.thresholds)
        return [
            {
                name: tag_result(int(q), int(cut), float(threshold), version)
                for name, q, cut, threshold, version in zip(
                    self.tag_names, row, cutoffs, self.thresholds, self.versions
                )
            }
            for row in quantized
        ]


def tag_result(quantized: int, cutoff: int, threshold: float, version: int) -> dict:
    return {
        "score": quantized / SCORE_SCALE,
        "prediction": quantized >= cutoff,
        "threshold": threshold,
        "version": version,
    }


def active_versions(tag_names: list[str] | None = None):
    """Active versions usable with the configured backbone's features, by tag name."""
    qs = TagVersion.objects.filter(is_active=True, backbone=settings.MUSES_BACKBONE)
    if tag_names is not None:
        qs = qs.filter(tag__name__in=tag_names)
    return qs.select_related("tag").order_by("tag__name")


def active_models(tag_names: list[str] | None = None) -> ActiveModels:
    """Stack the active versions of the named tags (all tags when None), in the given
    order; tags without a usable version are left out."""
    versions = {v.tag.name: v for v in active_versions(tag_names)}
    names = [n for n in (tag_names if tag_names is not None else sorted(versions)) if n in versions]
    chosen = [versions[n] for n in names]
    dim = chosen[0].feature_dim if chosen else 0
    return ActiveModels(
        tag_names=names,
        versions=[v.number for v in chosen],
        thresholds=np.array([v.threshold for v in chosen], dtype=np.float64),
        weights=(
            np.stack([v.coef_array() for v in chosen], axis=1)
            if chosen
            else np.zeros((dim, 0), np.float32)
        ),
        intercepts=np.array([v.intercept for v in chosen], dtype=np.float32),
    )


def render_batch_json(
    image_ids: list[str],
    models: ActiveModels,
    scores: np.ndarray,
    unknown_ids: list[str],
    pending_ids: list[str] = (),
    pending_detail: str = "",
) -> str:
    """'{"predictions": {"id": {"tag": {"score": s, "prediction": p, "threshold": t,
    "version": v}, ...}, ...}, "unknown_image_ids": [...]}' without a dict per cell: each
    cell's text is looked up by its quantized score in a per-tag table, and the whole reply
    is one join over a flat array of pieces."""
    tail = (
        '},"unknown_image_ids":'
        + json.dumps(unknown_ids, ensure_ascii=False)
        + ',"pending_image_ids":'
        + json.dumps(list(pending_ids), ensure_ascii=False)
        + (',"pending_detail":' + json.dumps(pending_detail) if pending_detail else "")
        + "}"
    )
    if not image_ids:
        return '{"predictions":{' + tail
    keys = _quoted_keys(image_ids)
    pieces = np.empty((len(image_ids), len(models) + 1), dtype=object)
    pieces[:, 0] = keys
    if len(models) == 0:
        pieces[:, 0] = [k + "}" for k in keys]
    else:
        quantized = quantize(scores)
        for j, (name, version, threshold) in enumerate(
            zip(models.tag_names, models.versions, models.thresholds)
        ):
            last = j == len(models) - 1
            pieces[:, j + 1] = _cell_table(name, version, float(threshold), last)[quantized[:, j]]
    return '{"predictions":{' + "".join(pieces.ravel().tolist()) + tail


def _quoted_keys(image_ids: list[str]) -> list[str]:
    """'"id":{' for the first image, ',"id":{' for the others."""
    if SAFE_IDS.fullmatch(",".join(image_ids)):
        keys = ['"' + i + '":{' for i in image_ids]
    else:
        keys = [json.dumps(i, ensure_ascii=False) + ":{" for i in image_ids]
    return [keys[0]] + ["," + k for k in keys[1:]]


SAFE_IDS = re.compile(r"[A-Za-z0-9_,.-]*")


@lru_cache(maxsize=TABLE_CACHE_SIZE)
def _cell_table(name: str, version: int, threshold: float, last: bool) -> np.ndarray:
    """The JSON text of this tag's cell for every quantized score 0..10000, ending in ','
    or, for the row's last tag, '}'. About 1 MB; cached per (tag, version, threshold)."""
    prefix = json.dumps(name, ensure_ascii=False) + ':{"score":'
    cutoff = int(quantize(np.array([threshold]))[0])
    end = "}" if last else ","
    suffixes = [
        f',"prediction":{word},"threshold":{json.dumps(threshold)},"version":{version}}}{end}'
        for word in ("false", "true")
    ]
    return np.array(
        [prefix + text + suffixes[q >= cutoff] for q, text in enumerate(SCORE_TEXT)], dtype=object
    )


def csv_lines(image_ids: list[str], models: ActiveModels, scores: np.ndarray) -> str:
    """CSV rows (as csv.writer writes them: minimal quoting, \r\n) of image id, then score
    and 0/1 prediction per tag: each cell's text is looked up by its quantized score in a
    per-threshold table and a chunk is one join, several times faster than csv.writer
    over a list per row (the library-wide job writes a million of them)."""
    if not image_ids:
        return ""
    quantized = quantize(scores)
    cutoffs = quantize(models.thresholds)
    pieces = np.empty((len(image_ids), len(models) + 1), dtype=object)
    pieces[:, 0] = [_csv_text(i) for i in image_ids]
    for j, cutoff in enumerate(cutoffs.tolist()):
        pieces[:, j + 1] = _csv_cell_table(cutoff, j == len(models) - 1)[quantized[:, j]]
    if len(models) == 0:
        pieces[:, 0] += "\r\n"
    return "".join(pieces.ravel().tolist())


CSV_SPECIAL = re.compile(r'[,"\r\n]')


def _csv_text(value: str) -> str:
    """One text cell as SafeCsvWriter writes it (formula-safe, minimal quoting)."""
    value = formula_safe(value)
    return value if not CSV_SPECIAL.search(value) else '"' + value.replace('"', '""') + '"'


@lru_cache(maxsize=TABLE_CACHE_SIZE)
def _csv_cell_table(cutoff: int, last: bool) -> np.ndarray:
    """',<score>,<0|1>' for every quantized score 0..10000 (and the line end after the
    row's last tag)."""
    end = "\r\n" if last else ""
    return np.array(
        [f",{text},{int(q >= cutoff)}{end}" for q, text in enumerate(SCORE_TEXT)], dtype=object
    )
