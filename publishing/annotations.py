"""An image's (or an item's) tags and naive class as a W3C Web Annotation AnnotationPage,
in the IIIF Presentation 3.0 shape, so a IIIF viewer can show them over the canvas.

Tags come from each trained tag's active version applied to the image's *stored* features
(the image is not decoded here: a GET never runs the network); only tags predicted
positive are annotations. The naive class is the one `muses_classify` stored.
"""

from collections.abc import Callable, Iterable
from urllib.parse import quote

from django.conf import settings

from custom_tagging.scoring import ActiveModels, active_models
from muses.collection.models import Image
from muses.vision.models import ImageFeature

# The IIIF context must come last; MUSES' own terms (score, version, threshold) are
# defined in between so that JSON-LD processors keep them.
MUSES_TERMS = {
    "muses": "urn:muses:",
    "score": "muses:score",
    "threshold": "muses:threshold",
    "version": "muses:version",
}
CONTEXT = [
    "http://www.w3.org/ns/anno.jsonld",
    MUSES_TERMS,
    "http://iiif.io/api/presentation/3/context.json",
]


def annotation_page_build(
    *,
    images: Iterable[Image],
    page_id: str,
    image_page: Callable[[Image], str],
    image_url: Callable[[Image], str],
) -> dict:
    """The AnnotationPage ``page_id`` of the images' tagging and classifying annotations.
    ``image_page(image)`` is the absolute URL of the image's own page (annotation ids are
    fragments of it); ``image_url(image)`` that of a stored image that did not come from IIIF."""
    found = image_annotations(
        images=images, image_page=image_page, target=lambda image: _target(image, image_url)
    )
    items = [annotation for annotations in found.values() for annotation in annotations]
    return {"@context": CONTEXT, "id": page_id, "type": "AnnotationPage", "items": items}


def image_annotations(
    *,
    images: Iterable[Image],
    image_page: Callable[[Image], str],
    target: Callable[[Image], dict | str],
) -> dict[int, list[dict]]:
    """image pk -> its tagging and classifying annotations on ``target(image)``, ids made
    from ``image_page(image)``; tags scored in one pass over the images' stored features."""
    images = list(images)
    models = active_models()
    tags = _predicted_tags(images, models) if len(models) else {}
    found = {}
    for image in images:
        on, page = target(image), image_page(image)
        found[image.pk] = [_tagging(page, on, result) for result in tags.get(image.pk, [])]
        if image.predicted_class:
            found[image.pk].append(_classifying(page, on, image))
    return found


def _predicted_tags(images: list[Image], models: ActiveModels) -> dict[int, list[dict]]:
    """image pk -> the results of the tags it is predicted to show, from stored features."""
    rows = ImageFeature.objects.filter(
        image__in=[i.pk for i in images], backbone=settings.MUSES_BACKBONE
    )
    found = {}
    for row in rows:
        vector = row.as_array()
        if vector.shape[0] != models.weights.shape[0]:
            continue  # features of other weights than the tags were trained on
        results = models.results(vector[None])[0]
        found[row.image_id] = [
            {"tag": name, **result} for name, result in results.items() if result["prediction"]
        ]
    return found


def _target(image: Image, image_url: Callable[[Image], str]) -> dict:
    """The canvas the image was painted on when it came from IIIF, else the image itself."""
    if image.iiif_canvas:
        target = {"id": image.iiif_canvas, "type": "Canvas"}
        if image.iiif_manifest:
            target["partOf"] = [{"id": image.iiif_manifest, "type": "Manifest"}]
        return target
    return {"id": image_url(image), "type": "Image", "format": _media_type(image.format)}


def _tagging(base: str, target: dict | str, result: dict) -> dict:
    return {
        "id": f"{base}#tagging-{quote(result['tag'], safe='')}",
        "type": "Annotation",
        "motivation": "tagging",
        "generator": {"type": "Software", "name": f"MUSES custom tag, version {result['version']}"},
        "body": {
            "type": "TextualBody",
            "value": result["tag"],
            "format": "text/plain",
            "purpose": "tagging",
            "score": result["score"],
            "threshold": result["threshold"],
            "version": result["version"],
        },
        "target": target,
    }


def _classifying(base: str, target: dict | str, image: Image) -> dict:
    return {
        "id": f"{base}#classifying",
        "type": "Annotation",
        "motivation": "classifying",
        "generator": {"type": "Software", "name": "MUSES naive classifier"},
        "body": {
            "type": "TextualBody",
            "value": image.predicted_class,
            "format": "text/plain",
            "purpose": "classifying",
            "score": round(image.predicted_probability or 0.0, 4),
        },
        "target": target,
    }


def _media_type(fmt: str) -> str:
    return f"image/{(fmt or 'jpeg').lower()}"
