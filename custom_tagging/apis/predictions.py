"""Predictions: on an upload (`/predict...`), on stored images (`/custom/predict...`,
`/custom/predict_batch`), suggestions of what to label next and similar images."""

import json

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from custom_tagging.exceptions import InvalidQuery
from custom_tagging.scoring import render_batch_json
from custom_tagging.selectors import image_get, tag_get
from custom_tagging.services.predictions import (
    batch_predict,
    image_predictions,
    image_similar,
    models_for_tag,
    tag_suggest,
    upload_predict,
    upload_predict_all,
)
from muses.api.params import int_param, list_param, uploaded_file
from muses.api.schema import COMMON_ERRORS, UploadSerializer, error
from muses.api.views import PredictionApi, PredictionUploadApi

MAX_SUGGESTIONS = 1000


class TagResultSerializer(serializers.Serializer):
    score = serializers.FloatField(help_text="Probability 0..1 (4 decimals).")
    prediction = serializers.BooleanField(help_text="score >= threshold")
    threshold = serializers.FloatField()
    version = serializers.IntegerField(help_text="The tag version that scored it.")


class KeywordSerializer(serializers.Serializer):
    keyword = serializers.CharField()
    score = serializers.FloatField()


class NaiveResultSerializer(serializers.Serializer):
    classes = serializers.DictField(
        child=serializers.FloatField(), required=False, help_text="{class: probability}"
    )
    error = serializers.CharField(required=False, help_text="Why the classifier gave no answer.")


class SuggestionSerializer(serializers.Serializer):
    image_id = serializers.CharField()
    score = serializers.FloatField()


class SimilarImageSerializer(serializers.Serializer):
    image_id = serializers.CharField()
    similarity = serializers.FloatField(help_text="Cosine similarity of the features.")


class PredictUploadTagApi(PredictionUploadApi):
    class OutputSerializer(TagResultSerializer):
        class Meta:
            ref_name = "PredictUploadTagOutput"

        tag = serializers.CharField()

    @extend_schema(
        operation_id="predict_custom_tag",
        summary="Score an uploaded image with one custom tag",
        request=UploadSerializer,
        responses={
            200: OutputSerializer,
            400: error("No 'data' field or not an image."),
            404: error("No such tag."),
            409: error("The tag has no trained version."),
            413: error("Larger than MUSES_MAX_UPLOAD_BYTES."),
            **COMMON_ERRORS,
        },
    )
    def post(self, request, tag: str):
        models = models_for_tag(name=tag)  # 404/409 before reading the upload
        data, name = uploaded_file(request)
        results = upload_predict(data=data, name=name, models=models)
        tag_name = models.tag_names[0]
        return Response(self.OutputSerializer({"tag": tag_name, **results[tag_name]}).data)


class CustomResultsSerializer(serializers.Serializer):
    custom = serializers.DictField(child=TagResultSerializer(), help_text="Per trained tag.")


class PredictUploadCustomApi(PredictionUploadApi):
    @extend_schema(
        operation_id="predict_custom",
        summary="Score an uploaded image with every trained custom tag",
        request=UploadSerializer,
        responses={
            200: CustomResultsSerializer,
            400: error("No 'data' field or not an image."),
            413: error("Larger than MUSES_MAX_UPLOAD_BYTES."),
            **COMMON_ERRORS,
        },
    )
    def post(self, request):
        data, name = uploaded_file(request)
        reply = {"custom": upload_predict(data=data, name=name)}
        return Response(CustomResultsSerializer(reply).data)


class PredictUploadAllApi(PredictionUploadApi):
    class OutputSerializer(CustomResultsSerializer):
        class Meta:
            ref_name = "PredictUploadAllOutput"

        imagenet_keywords = KeywordSerializer(many=True, help_text="From the backbone's head.")
        naive_classification = NaiveResultSerializer(
            required=False, help_text="When a naive model is configured (MUSES_NAIVE_MODEL_PATH)."
        )

    @extend_schema(
        operation_id="predict",
        summary="Custom tags plus the base models (ImageNet keywords, naive classifier)",
        request=UploadSerializer,
        responses={
            200: OutputSerializer,
            400: error("No 'data' field or not an image."),
            413: error("Larger than MUSES_MAX_UPLOAD_BYTES."),
            **COMMON_ERRORS,
        },
    )
    def post(self, request):
        data, name = uploaded_file(request)
        return Response(self.OutputSerializer(upload_predict_all(data=data, name=name)).data)


class PredictImageApi(PredictionApi):
    class OutputSerializer(CustomResultsSerializer):
        class Meta:
            ref_name = "PredictImageOutput"

        image_id = serializers.CharField()

    @extend_schema(
        operation_id="custom_predict_image",
        summary="Every trained tag on a stored image (from stored features)",
        responses={200: OutputSerializer, 404: error("No such image."), **COMMON_ERRORS},
    )
    def get(self, request, image_id: str):
        image = image_get(image_id=image_id)
        reply = {"image_id": image.image_id, "custom": image_predictions(image=image)}
        return Response(self.OutputSerializer(reply).data)


class PredictImageTagApi(PredictionApi):
    class OutputSerializer(TagResultSerializer):
        class Meta:
            ref_name = "PredictImageTagOutput"

        tag = serializers.CharField()
        image_id = serializers.CharField()

    @extend_schema(
        operation_id="custom_predict_tag_image",
        summary="One tag on a stored image (from stored features)",
        responses={
            200: OutputSerializer,
            404: error("No such tag or image."),
            409: error("The tag has no trained version."),
            **COMMON_ERRORS,
        },
    )
    def get(self, request, tag: str, image_id: str):
        models = models_for_tag(name=tag)
        image = image_get(image_id=image_id)
        tag_name = models.tag_names[0]
        result = image_predictions(image=image, models=models)[tag_name]
        reply = {"tag": tag_name, "image_id": image.image_id, **result}
        return Response(self.OutputSerializer(reply).data)


BatchInput = inline_serializer(
    "PredictBatchInput",
    {
        "image_id": serializers.CharField(help_text="a,b,c (or a JSON list)"),
        "tags": serializers.CharField(required=False, help_text="x,y (or a JSON list)"),
    },
)


class PredictBatchApi(PredictionApi):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "PredictBatchOutput"

        predictions = serializers.DictField(
            child=serializers.DictField(child=TagResultSerializer()),
            help_text="{image_id: {tag: result}} in the order asked.",
        )
        unknown_image_ids = serializers.ListField(
            child=serializers.CharField(), help_text="Ids of no stored image."
        )
        pending_image_ids = serializers.ListField(
            child=serializers.CharField(),
            help_text="Stored images without features: not computed yet or not decodable.",
        )
        pending_detail = serializers.CharField(
            required=False, help_text="Why pending_image_ids are pending (when there are any)."
        )

    doc = {
        "summary": "Many stored images by many tags at once",
        "description": (
            "image_id and tags are comma-separated lists; without tags, every trained tag. "
            "POST takes the same two fields in a form or JSON body, for lists too long for a URL."
        ),
        "responses": {
            (200, "application/json"): OutputSerializer,
            400: error("No image ids, too many, or a bad tag name."),
            404: error("No such tag."),
            409: error("A tag has no trained version."),
            **COMMON_ERRORS,
        },
    }

    @extend_schema(
        operation_id="custom_predict_batch",
        parameters=[
            OpenApiParameter("image_id", str, required=True, description="a,b,c"),
            OpenApiParameter("tags", str, description="x,y (default: every trained tag)"),
        ],
        **doc,
    )
    def get(self, request):
        return self._reply(request.query_params)

    @extend_schema(operation_id="custom_predict_batch_post", request=BatchInput, **doc)
    def post(self, request):
        return self._reply(request.data)

    def _reply(self, params) -> HttpResponse:
        if not isinstance(params, dict):
            raise InvalidQuery(
                "The body must be a JSON object or a form with 'image_id' (and 'tags'), "
                f"not a JSON {type(params).__name__}."
            )
        batch = batch_predict(
            image_ids=_list_value(params, "image_id"),
            tag_names=_list_value(params, "tags") or None,
        )
        body = render_batch_json(
            batch.image_ids,
            batch.models,
            batch.scores,
            batch.unknown_image_ids,
            batch.pending_image_ids,
            batch.pending_detail,
        )
        return HttpResponse(body, content_type="application/json")


def _list_value(params: dict, name: str) -> list[str]:
    """A comma-separated string or a JSON list of strings; anything else is a 400."""
    value = params.get(name)
    if value is None or isinstance(value, str):
        return list_param(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise InvalidQuery(
        f"'{name}' must be a comma-separated string or a list of strings, "
        f"not {json.dumps(value)[:100]}."
    )


class SuggestApi(PredictionApi):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SuggestOutput"

        tag = serializers.CharField()
        suggestions = SuggestionSerializer(many=True)

    @extend_schema(
        operation_id="custom_suggest",
        summary="Unlabelled stored images the tag is least sure of: label these next",
        parameters=[OpenApiParameter("n", int, description="How many (1-1000, default 20).")],
        responses={
            200: OutputSerializer,
            400: error("Bad n."),
            404: error("No such tag."),
            409: error("The tag has no trained version."),
            **COMMON_ERRORS,
        },
    )
    def get(self, request, tag: str):
        n = int_param(request, "n", default=20, low=1, high=MAX_SUGGESTIONS)
        custom_tag = tag_get(name=tag)
        reply = {"tag": custom_tag.name, "suggestions": tag_suggest(tag=custom_tag, n=n)}
        return Response(self.OutputSerializer(reply).data)


class SimilarApi(PredictionApi):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SimilarOutput"

        image_id = serializers.CharField()
        similar = SimilarImageSerializer(many=True)

    @extend_schema(
        operation_id="similar",
        summary="Nearest stored images by cosine similarity of features",
        parameters=[OpenApiParameter("n", int, description="How many (1-1000, default 10).")],
        responses={
            200: OutputSerializer,
            400: error("Bad n."),
            404: error("No such image."),
            **COMMON_ERRORS,
        },
    )
    def get(self, request, image_id: str):
        n = int_param(request, "n", default=10, low=1, high=MAX_SUGGESTIONS)
        image = image_get(image_id=image_id)
        reply = {"image_id": image.image_id, "similar": image_similar(image=image, n=n)}
        return Response(self.OutputSerializer(reply).data)
