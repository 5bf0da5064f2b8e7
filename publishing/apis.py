"""Publishing over HTTP: Web Annotation pages for IIIF viewers and prediction exports.

Same permission as every /api/ view (a token, unless MUSES_API_OPEN=1)."""

from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from custom_tagging.models import PredictionJob
from custom_tagging.selectors import image_get, tag_get
from muses.api.exceptions import InvalidQuery
from muses.api.params import int_param
from muses.api.schema import COMMON_ERRORS, error
from muses.api.views import BaseApi
from muses.collection.models import Image, Item
from muses.jobs.exceptions import JobNotFound
from muses.jobs.services import job_get
from publishing import records, result_sets
from publishing.annotations import annotation_page_build
from publishing.exceptions import ItemNotFound
from publishing.manifests import ResultSet, result_manifest_build

MAX_CANVASES = 1000
N_PARAMETER = OpenApiParameter(
    "n", int, description=f"At most this many images (1-{MAX_CANVASES}, default 100)."
)
MANIFEST = OpenApiResponse(
    inline_serializer(
        "ResultManifest",
        {
            "@context": serializers.ListField(child=serializers.JSONField()),
            "id": serializers.URLField(),
            "type": serializers.CharField(help_text="Manifest"),
            "label": serializers.DictField(),
            "items": serializers.ListField(child=serializers.DictField()),
        },
    ),
    description=(
        "A IIIF Presentation 3.0 Manifest: one Canvas per image, painted with the museum's "
        "IIIF image when it was imported from IIIF (else MUSES' stored copy), with the "
        "image's tags and naive class as Web Annotations in the canvas's `annotations`."
    ),
)

_BODY = inline_serializer(
    "AnnotationBody",
    {
        "type": serializers.CharField(help_text="TextualBody"),
        "value": serializers.CharField(help_text="The tag or the class."),
        "format": serializers.CharField(help_text="text/plain"),
        "purpose": serializers.CharField(help_text="tagging or classifying"),
        "score": serializers.FloatField(help_text="Probability, 0..1."),
        "threshold": serializers.FloatField(required=False, help_text="Tags: the cut-off."),
        "version": serializers.IntegerField(required=False, help_text="Tags: the version."),
    },
)
_TARGET = inline_serializer(
    "AnnotationTarget",
    {
        "id": serializers.URLField(help_text="The IIIF canvas, or the stored image's URL."),
        "type": serializers.CharField(help_text="Canvas or Image"),
        "partOf": serializers.ListField(
            child=serializers.DictField(), required=False, help_text="The canvas's manifest."
        ),
        "format": serializers.CharField(required=False, help_text="Images: the media type."),
    },
)
_ANNOTATIONS = inline_serializer(
    "Annotation",
    {
        "id": serializers.URLField(),
        "type": serializers.CharField(help_text="Annotation"),
        "motivation": serializers.CharField(help_text="tagging or classifying"),
        "generator": serializers.DictField(),
        "body": _BODY,
        "target": _TARGET,
    },
    many=True,
)
ANNOTATION_PAGE = OpenApiResponse(
    inline_serializer(
        "AnnotationPage",
        {
            "@context": serializers.ListField(child=serializers.JSONField()),
            "id": serializers.URLField(),
            "type": serializers.CharField(help_text="AnnotationPage"),
            "items": _ANNOTATIONS,
        },
    ),
    description=(
        "A W3C Web Annotation AnnotationPage (IIIF Presentation 3.0 shape): one annotation "
        "per tag the image is predicted to show (motivation 'tagging') and one for its naive "
        "class (motivation 'classifying'), each with a TextualBody giving the tag or class, "
        "its score and, for tags, the version and threshold; the target is the IIIF canvas "
        "the image came from, or the stored image itself."
    ),
)


class JsonLdRenderer(JSONRenderer):
    """What IIIF asks of annotation documents: application/ld+json with its profile."""

    media_type = "application/ld+json"
    format = "jsonld"


class AnnotationApi(BaseApi):
    renderer_classes = [JsonLdRenderer, JSONRenderer]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400 and isinstance(response, Response):
            # Errors are {"detail": ...} like everywhere else: plain JSON, not an annotation.
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = JSONRenderer.media_type
        # IIIF viewers load annotations from other origins; no credentials travel with '*'.
        response["Access-Control-Allow-Origin"] = "*"
        return response

    def page(self, request, images, page_id: str) -> Response:
        page = annotation_page_build(
            images=images,
            page_id=page_id,
            image_page=lambda image: request.build_absolute_uri(
                reverse("iiif-image-annotations", args=[image.image_id])
            ),
            image_url=lambda image: request.build_absolute_uri(image.file.url),
        )
        return Response(page)


class ImageAnnotationsApi(AnnotationApi):
    @extend_schema(
        operation_id="api_iiif_annotations_image",
        summary="The image's tags and naive class as a Web Annotation page",
        responses={200: ANNOTATION_PAGE, 404: error("No such image."), **COMMON_ERRORS},
    )
    def get(self, request, image_id: str):
        image = image_get(image_id=image_id)
        return self.page(request, [image], request.build_absolute_uri())


class ItemAnnotationsApi(AnnotationApi):
    @extend_schema(
        operation_id="api_iiif_annotations_item",
        summary="The tags and naive classes of every image of one item (museum + object number)",
        parameters=[
            OpenApiParameter("museum", str, required=True, description="The item's museum."),
            OpenApiParameter("object_number", str, required=True, description="Its number."),
        ],
        responses={
            200: ANNOTATION_PAGE,
            400: error("museum or object_number missing."),
            404: error("No such item."),
            **COMMON_ERRORS,
        },
    )
    def get(self, request):
        museum = request.query_params.get("museum", "")
        number = request.query_params.get("object_number", "")
        if not museum or not number:
            raise InvalidQuery("Pass the item as ?museum=...&object_number=...")
        item = Item.objects.filter(museum=museum, object_number=number).first()
        if item is None:
            raise ItemNotFound(f"No item {number!r} of museum {museum!r}.")
        images = Image.objects.filter(item=item).order_by("id")
        return self.page(request, images, request.build_absolute_uri())


class PredictionRecordsApi(BaseApi):
    @extend_schema(
        operation_id="api_predictions_records",
        summary="The job's predictions keyed on museum + object number, for re-import",
        parameters=[
            OpenApiParameter(
                "fmt",
                str,
                OpenApiParameter.PATH,
                enum=sorted(records.FORMATS),
                description="csv, or jsonl for JSON Lines.",
            )
        ],
        description=(
            "One row per object: museum, object_number, image_ids (';'-separated), "
            "naive_class and naive_probability (from muses_classify), then per tag "
            "'<tag>:score' (the highest over the object's images) and '<tag>:prediction' "
            "(1 when any image shows it). `.jsonl` gives the same as one JSON object a line."
        ),
        responses={
            (200, "text/csv"): bytes,
            (200, "application/x-ndjson"): bytes,
            404: error("No such task or format."),
            409: error("Not finished successfully."),
            **COMMON_ERRORS,
        },
    )
    def get(self, request, task_id: str, fmt: str):
        job = job_get(task_id=task_id)
        if not isinstance(job, PredictionJob):
            raise JobNotFound(f"No library prediction with task_id {task_id!r}.")
        response = StreamingHttpResponse(
            records.predictions_export(job=job, fmt=fmt), content_type=records.FORMATS[fmt]
        )
        response["Content-Disposition"] = f'attachment; filename="records-{task_id}.{fmt}"'
        return response


class ResultManifestApi(AnnotationApi):
    """A result set as a Manifest at a stable URL (the path names the set; ?n= bounds it)."""

    def manifest(self, request, result: ResultSet) -> Response:
        return Response(
            result_manifest_build(
                result=result,
                manifest_id=request.build_absolute_uri(),
                base=request.build_absolute_uri(request.path.removesuffix("/manifest")),
                image_url=lambda image: request.build_absolute_uri(image.file.url),
            )
        )

    def n(self, request) -> int:
        return int_param(request, "n", default=100, low=1, high=MAX_CANVASES)


class TagPositivesManifestApi(ResultManifestApi):
    @extend_schema(
        operation_id="api_iiif_tag_positives_manifest",
        summary="A tag's positive examples as a IIIF Presentation 3.0 Manifest",
        parameters=[N_PARAMETER],
        responses={
            200: MANIFEST,
            400: error("Bad n."),
            404: error("No such tag, or no positive example."),
            **COMMON_ERRORS,
        },
    )
    def get(self, request, tag: str):
        result = result_sets.tag_positives_result(tag=tag_get(name=tag), n=self.n(request))
        return self.manifest(request, result)


class TagPredictionsManifestApi(ResultManifestApi):
    @extend_schema(
        operation_id="api_iiif_tag_predictions_manifest",
        summary="The images a tag scores highest over the library, as a IIIF Manifest",
        parameters=[N_PARAMETER],
        responses={
            200: MANIFEST,
            400: error("Bad n."),
            404: error("No such tag, or no image predicted to show it."),
            409: error("The tag has no trained version."),
            **COMMON_ERRORS,
        },
    )
    def get(self, request, tag: str):
        result = result_sets.tag_predictions_result(tag=tag_get(name=tag), n=self.n(request))
        return self.manifest(request, result)


class NaiveClassManifestApi(ResultManifestApi):
    @extend_schema(
        operation_id="api_iiif_naive_class_manifest",
        summary="The images of a naive class, surest first, as a IIIF Manifest",
        parameters=[N_PARAMETER],
        responses={
            200: MANIFEST,
            400: error("Bad n."),
            404: error("No image in this class."),
            **COMMON_ERRORS,
        },
    )
    def get(self, request, name: str):
        result = result_sets.naive_class_result(name=name, n=self.n(request))
        return self.manifest(request, result)
