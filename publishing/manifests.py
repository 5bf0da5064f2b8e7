"""A result set (a tag's positives or top predictions, a naive class) as a IIIF Presentation
3.0 Manifest that any IIIF viewer opens: one canvas per image, painted with the museum's own
IIIF image when the image was imported from IIIF (deep zoom through its Image API service)
or with MUSES' stored copy otherwise, and the image's tags and naive class as annotations
on the canvas (the same Web Annotations /api/iiif/annotations serves).
"""

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from muses.collection.models import Image
from publishing.annotations import CONTEXT, image_annotations


@dataclass(frozen=True)
class ResultSet:
    """What the manifest shows: its label and summary, and the images with an optional
    score each (shown in the canvas's metadata)."""

    label: str
    summary: str
    images: list[Image]
    scores: dict[int, float] | None = None  # image pk -> score


def result_manifest_build(
    *, result: ResultSet, manifest_id: str, base: str, image_url: Callable[[Image], str]
) -> dict:
    """The Presentation 3.0 Manifest ``manifest_id`` of the result set; canvas ids are
    ``base``/canvas/<image_id>; ``image_url(image)`` is the absolute URL of MUSES' stored
    copy of an image."""
    canvas_ids = {image.pk: _canvas_id(base, image) for image in result.images}
    annotations = image_annotations(
        images=result.images,
        image_page=lambda image: canvas_ids[image.pk],
        target=lambda image: canvas_ids[image.pk],
    )
    canvases = [
        _canvas(image, canvas_ids[image.pk], annotations[image.pk], result, image_url)
        for image in result.images
    ]
    return {
        "@context": CONTEXT,
        "id": manifest_id,
        "type": "Manifest",
        "label": {"en": [result.label]},
        "summary": {"en": [result.summary]},
        "items": canvases,
    }


def _canvas_id(base: str, image: Image) -> str:
    return f"{base}/canvas/{quote(image.image_id, safe='')}"


def _canvas(
    image: Image,
    canvas_id: str,
    annotations: list[dict],
    result: ResultSet,
    image_url: Callable[[Image], str],
) -> dict:
    canvas = {
        "id": canvas_id,
        "type": "Canvas",
        "label": _en(_label(image)),
        "width": image.width,
        "height": image.height,
        "metadata": _metadata(image, result),
        "items": [
            {
                "id": f"{canvas_id}/page/painting",
                "type": "AnnotationPage",
                "items": [
                    {
                        "id": f"{canvas_id}/painting",
                        "type": "Annotation",
                        "motivation": "painting",
                        "body": _body(image, image_url),
                        "target": canvas_id,
                    }
                ],
            }
        ],
    }
    if annotations:
        canvas["annotations"] = [
            {"id": f"{canvas_id}/page/results", "type": "AnnotationPage", "items": annotations}
        ]
    if image.iiif_manifest:
        canvas["partOf"] = [{"id": image.iiif_manifest, "type": "Manifest"}]
    return canvas


def _body(image: Image, image_url: Callable[[Image], str]) -> dict:
    """The museum's IIIF image when there is one, else MUSES' stored copy."""
    if isinstance(image.iiif_body, dict) and image.iiif_body.get("id"):
        return image.iiif_body
    return {
        "id": image_url(image),
        "type": "Image",
        "format": f"image/{(image.format or 'jpeg').lower()}",
        "width": image.width,
        "height": image.height,
    }


def _label(image: Image) -> str:
    item = image.item
    if item is None:
        return image.image_id
    return f"{item.object_number} — {item.title}" if item.title else item.object_number


def _metadata(image: Image, result: ResultSet) -> list[dict]:
    entries = [("Image", image.image_id)]
    if image.item is not None:
        entries += [("Museum", image.item.museum), ("Object number", image.item.object_number)]
    score = (result.scores or {}).get(image.pk)
    if score is not None:
        entries.append(("Score", f"{score:.4f}"))
    return [{"label": _en(label), "value": {"none": [value]}} for label, value in entries]


def _en(value: str) -> dict:
    return {"en": [value]}
