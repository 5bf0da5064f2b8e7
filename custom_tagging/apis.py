"""The Customized Training API: the seed's paths, one thin view per operation.

Each view validates its input, calls one service and serializes the result. The seed
calls the state-changing operations with GET; they accept POST as well.
"""

import json

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from custom_tagging.api_base import (
    COMMON_ERRORS,
    STATE_UPLOAD,
    BaseApi,
    PredictionApi,
    PredictionUploadApi,
    StateChangingGetApi,
    UploadApi,
    UploadSerializer,
    bool_param,
    error,
    image_add_from_request,
    int_param,
    list_param,
    uploaded_file,
    user_of,
)
from custom_tagging.exceptions import InvalidQuery
from custom_tagging.models import PredictionJob, TrainingJob
from custom_tagging.scoring import render_batch_json
from custom_tagging.services.images import image_get
from custom_tagging.services.predictions import (
    batch_predict,
    image_predictions,
    image_similar,
    models_for_tag,
    tag_suggest,
    upload_predict,
    upload_predict_all,
)
from custom_tagging.services.tags import (
    assignment_set,
    label_validate,
    tag_counts,
    tag_get,
    tag_name_validate,
    tag_reset,
)
from custom_tagging.services.training import tag_train_enqueue
from custom_tagging.state import state_export, state_import
from muses.jobs.services import job_get
from muses.jobs.workers import job_waiting_problem
from muses.roles import CURATE, LABEL

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


class JobOutputSerializer(serializers.Serializer):
    """A job of any kind (training, library prediction, naive export or training, map
    layout) as /status shows it."""

    task_id = serializers.CharField()
    kind = serializers.CharField()
    state = serializers.CharField()
    progress = serializers.FloatField()
    error = serializers.CharField()
    created = serializers.DateTimeField()
    started = serializers.DateTimeField(allow_null=True)
    finished = serializers.DateTimeField(allow_null=True)
    tag = serializers.CharField(required=False)
    version = serializers.IntegerField(required=False, allow_null=True)
    metrics = serializers.DictField(required=False, allow_null=True)
    threshold = serializers.FloatField(required=False, allow_null=True)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    rows = serializers.IntegerField(required=False)
    result_url = serializers.CharField(required=False, allow_null=True)
    options = serializers.DictField(
        required=False, help_text="What a naive or curation job was asked to do."
    )
    result = serializers.DictField(
        required=False,
        help_text="What a naive or curation job made: the dataset, the saved model, the map.",
    )
    tag_deleted = serializers.BooleanField(required=False, help_text="The tag was deleted since.")
    warning = serializers.CharField(
        required=False,
        help_text="Why a queued job is not taken (no queue worker), or that its tag was deleted.",
    )

    def to_representation(self, job):
        data = {
            "task_id": job.task_id,
            "kind": job.kind,
            "state": job.state,
            "progress": job.progress,
            "error": job.error,
            "created": job.created,
            "started": job.started,
            "finished": job.finished,
        }
        if isinstance(job, TrainingJob):
            version = job.version
            data.update(
                tag=job.tag_name,
                version=version.number if version else None,
                metrics=version.metrics if version else None,
                threshold=version.threshold if version else None,
            )
            if job.tag_id is None:  # the tag was deleted (/custom/delete) after the job
                data.update(
                    tag_deleted=True,
                    warning=f"The tag {job.tag_name!r} was deleted since; its versions are gone.",
                )
        elif isinstance(job, PredictionJob):
            done = job.state == "success"
            data.update(
                tags=job.tag_names,
                rows=job.rows,
                result_url=f"/api/predictions/{job.task_id}/csv" if done else None,
            )
        else:
            data.update(job.status_fields())
        return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items()}


# --- adding and assigning images ------------------------------------------------------


class ImageAddApi(UploadApi):
    roles = {"POST": LABEL}

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ImageAddOutput"

        image_id = serializers.CharField()
        width = serializers.IntegerField()
        height = serializers.IntegerField()
        format = serializers.CharField()

    @extend_schema(
        operation_id="image_add",
        summary="Add an image and store its features",
        parameters=[
            OpenApiParameter(
                "image_id", str, description="Optional: letters, digits, '-', '_' (max 64)."
            )
        ],
        request=UploadSerializer,
        responses={
            201: OutputSerializer,
            400: error("No 'data' field, not an image, or a bad image_id."),
            409: error("The image_id is already used."),
            413: error("Larger than MUSES_MAX_UPLOAD_BYTES."),
            **COMMON_ERRORS,
        },
    )
    def post(self, request):
        image = image_add_from_request(request)
        return Response(self.OutputSerializer(image).data, status=status.HTTP_201_CREATED)


class AssignApi(StateChangingGetApi):
    roles = {"GET": LABEL, "POST": LABEL}

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AssignOutput"

        image_id = serializers.CharField()
        tag = serializers.CharField()
        type = serializers.CharField()
        positives = serializers.IntegerField()
        negatives = serializers.IntegerField()

    doc = {
        "summary": "Mark an image as a positive or negative example of a tag",
        "description": "A new tag name creates the tag; assigning again switches the type.",
        "request": None,
        "responses": {
            200: OutputSerializer,
            400: error("type is not positive/negative, or a bad tag name."),
            404: error("No such image."),
            **COMMON_ERRORS,
        },
    }

    @extend_schema(operation_id="custom_assign", **doc)
    def get(self, request, image_id: str, sample_type: str, tag: str):
        label_validate(label=sample_type)
        tag_name_validate(name=tag)
        image = image_get(image_id=image_id)
        assignment = assignment_set(
            image=image, tag_name=tag, label=sample_type, user=user_of(request)
        )
        counts = tag_counts(tag=assignment.tag)
        reply = {
            "image_id": image.image_id,
            "tag": assignment.tag.name,
            "type": assignment.label,
            "positives": counts["positive"],
            "negatives": counts["negative"],
        }
        return Response(self.OutputSerializer(reply).data)

    @extend_schema(operation_id="custom_assign_post", **doc)
    def post(self, request, image_id: str, sample_type: str, tag: str):
        return self.get(request, image_id, sample_type, tag)


# --- training, status, reset ----------------------------------------------------------


class TrainApi(StateChangingGetApi):
    roles = {"GET": LABEL, "POST": LABEL}

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "TrainOutput"

        task_id = serializers.CharField()
        tag = serializers.CharField()
        state = serializers.CharField()
        status_url = serializers.CharField()

    doc = {
        "summary": "Queue a training of the tag",
        "description": "Replies at once with task_id; follow it at /status/<task_id>.",
        "request": None,
        "responses": {
            202: OutputSerializer,
            400: error("No positive or no negative images."),
            404: error("No such tag."),
            409: error("A training of the tag is already queued or running."),
            **COMMON_ERRORS,
        },
    }

    @extend_schema(operation_id="custom_train", **doc)
    def get(self, request, tag: str):
        job = tag_train_enqueue(tag=tag_get(name=tag), user=user_of(request))
        reply = {
            "task_id": job.task_id,
            "tag": job.tag_name,
            "state": job.state,
            "status_url": f"/status/{job.task_id}",
        }
        return Response(self.OutputSerializer(reply).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(operation_id="custom_train_post", **doc)
    def post(self, request, tag: str):
        return self.get(request, tag)


class StatusApi(BaseApi):
    @extend_schema(
        operation_id="status",
        summary="State, progress and timestamps of a task; metrics on success",
        responses={200: JobOutputSerializer, 404: error("No such task."), **COMMON_ERRORS},
    )
    def get(self, request, task_id: str):
        job = job_get(task_id=task_id)
        data = JobOutputSerializer(job).data
        if problem := job_waiting_problem(job):
            data["warning"] = f"The job is waiting: {problem}."
        return Response(data)


class TagResetApi(StateChangingGetApi):
    roles = {"GET": CURATE, "POST": CURATE}

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "TagResetOutput"

        tag = serializers.CharField()
        versions_deleted = serializers.IntegerField()
        assignments_deleted = serializers.IntegerField()

    doc = {
        "summary": "Reset a tag: delete its versions and assignments",
        "request": None,
        "responses": {200: OutputSerializer, 404: error("No such tag."), **COMMON_ERRORS},
    }

    @extend_schema(operation_id="custom_delete", **doc)
    def get(self, request, tag: str):
        return Response(self.OutputSerializer(tag_reset(tag=tag_get(name=tag))).data)

    @extend_schema(operation_id="custom_delete_post", **doc)
    def post(self, request, tag: str):
        return self.get(request, tag)


# --- predictions on uploads -----------------------------------------------------------


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


# --- predictions on stored images -----------------------------------------------------


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


# --- state ----------------------------------------------------------------------------


class StateSetApi(UploadApi):
    roles = {"POST": CURATE}

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "StateSetOutput"

        tags = serializers.IntegerField()
        versions = serializers.IntegerField(help_text="New active versions.")
        versions_unchanged = serializers.IntegerField(
            help_text="Models identical to the tag's active version: nothing added."
        )
        assignments = serializers.IntegerField()
        assignments_skipped = serializers.IntegerField(help_text="Their images are not here.")
        features = serializers.IntegerField()

    @extend_schema(
        operation_id="set_state",
        summary="Load trained tags from a state tar (all or nothing)",
        request=STATE_UPLOAD,
        responses={
            200: OutputSerializer,
            400: error("Not a valid state tar, unsafe members, or another backbone."),
            413: error("Larger than MUSES_STATE_MAX_BYTES."),
            **COMMON_ERRORS,
        },
    )
    def post(self, request):
        data, _ = uploaded_file(request, max_bytes=settings.MUSES_STATE_MAX_BYTES)
        return Response(self.OutputSerializer(state_import(data=data)).data)


class StateGetApi(BaseApi):
    roles = {"GET": CURATE}

    @extend_schema(
        operation_id="get_state",
        summary="Download every tag's assignments and active model as a tar",
        parameters=[
            OpenApiParameter("include_features", bool, description="Add the stored features.")
        ],
        responses={(200, "application/x-tar"): OpenApiTypes.BINARY, **COMMON_ERRORS},
    )
    def get(self, request):
        data = state_export(include_features=bool_param(request, "include_features"))
        response = HttpResponse(data, content_type="application/x-tar")
        response["Content-Disposition"] = 'attachment; filename="state.tar"'
        return response
