"""REST resources under /api/: images, tags, assignments, versions, jobs, library predictions.

One view per resource path; each method handler validates, calls one service and
serializes. Lists take ?limit= and ?offset=.
"""

from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from custom_tagging import exceptions as errors
from custom_tagging import selectors
from custom_tagging.api_base import (
    COMMON_ERRORS,
    BaseApi,
    UploadApi,
    UploadSerializer,
    error,
    image_add_from_request,
    int_param,
    user_of,
)
from custom_tagging.apis import JobOutputSerializer
from custom_tagging.models import Assignment, CustomTag, PredictionJob
from custom_tagging.services.images import image_get
from custom_tagging.services.library import library_prediction_create, prediction_result_open
from custom_tagging.services.tags import (
    assignment_delete,
    assignment_set,
    label_validate,
    tag_create,
    tag_get,
    tag_reset,
    tag_update,
)
from custom_tagging.services.training import tag_train_enqueue
from custom_tagging.services.versions import version_activate, version_get
from muses.collection.models import Image
from muses.jobs.selectors import job_list
from muses.jobs.services import job_cancel, job_get, jobs_expire_stale
from muses.roles import CURATE, LABEL

MAX_PAGE = 1000
PAGE_PARAMETERS = [
    OpenApiParameter("limit", int, description="Page size (1-1000, default 100)."),
    OpenApiParameter("offset", int, description="Rows to skip."),
]


def paginate(request, queryset, serializer_class) -> Response:
    limit = int_param(request, "limit", default=100, low=1, high=MAX_PAGE)
    offset = int_param(request, "offset", default=0, low=0, high=2**31)
    rows = queryset[offset : offset + limit]
    return Response(
        {
            "count": queryset.count(),
            "limit": limit,
            "offset": offset,
            "results": serializer_class(rows, many=True).data,
        }
    )


_paged_cache: dict = {}


def paged(serializer_class):
    """A page of serializer_class, one class per serializer so the schema names it once."""
    if serializer_class not in _paged_cache:
        _paged_cache[serializer_class] = _page_of(serializer_class)
    return _paged_cache[serializer_class]


def _page_of(serializer_class):
    return type(
        f"Paged{serializer_class.__name__}",
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "limit": serializers.IntegerField(),
            "offset": serializers.IntegerField(),
            "results": serializer_class(many=True),
        },
    )


# --- images ---------------------------------------------------------------------------


class ImageSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = ["image_id", "width", "height", "format", "original_name", "created", "url"]

    def get_url(self, image) -> str:
        # The storage's URL: /media/... locally, the bucket's (signed) URL on S3.
        return image.file.url


class ImageListApi(UploadApi):
    roles = {"POST": LABEL}

    def get_throttles(self):
        return super().get_throttles() if self.request.method == "POST" else []

    @extend_schema(
        operation_id="api_images_list",
        summary="Stored images, newest first",
        parameters=PAGE_PARAMETERS,
        responses={200: paged(ImageSerializer), **COMMON_ERRORS},
    )
    def get(self, request):
        return paginate(request, selectors.image_list(), ImageSerializer)

    @extend_schema(
        operation_id="api_images_create",
        summary="Add an image (same as /system/database/image/add)",
        parameters=[OpenApiParameter("image_id", str, description="Optional id.")],
        request=UploadSerializer,
        responses={
            201: ImageSerializer,
            400: error("No 'data' field, not an image, or a bad image_id."),
            409: error("The image_id is already used."),
            413: error("Larger than MUSES_MAX_UPLOAD_BYTES."),
            **COMMON_ERRORS,
        },
    )
    def post(self, request):
        image = image_add_from_request(request)
        return Response(ImageSerializer(image).data, status=status.HTTP_201_CREATED)


class ImageDetailApi(BaseApi):
    class OutputSerializer(ImageSerializer):
        assignments = serializers.SerializerMethodField()

        class Meta(ImageSerializer.Meta):
            ref_name = "ImageWithAssignments"
            fields = ImageSerializer.Meta.fields + ["assignments"]

        def get_assignments(self, image) -> dict[str, str]:
            return dict(image.tag_assignments.values_list("tag__name", "label"))

    @extend_schema(
        operation_id="api_images_detail",
        summary="One stored image and its tag assignments",
        responses={200: OutputSerializer, 404: error("No such image."), **COMMON_ERRORS},
    )
    def get(self, request, image_id: str):
        return Response(self.OutputSerializer(image_get(image_id=image_id)).data)


# --- tags -----------------------------------------------------------------------------


class TagSerializer(serializers.ModelSerializer):
    """A tag annotated by ``selectors.tag_list`` / ``selectors.tag_with_counts``."""

    positives = serializers.IntegerField(source="positive_count")
    negatives = serializers.IntegerField(source="negative_count")
    active_version = serializers.IntegerField(source="active_number", allow_null=True)

    class Meta:
        model = CustomTag
        fields = ["name", "target_precision", "created", "positives", "negatives", "active_version"]


def tag_body(tag: CustomTag) -> dict:
    return TagSerializer(selectors.tag_with_counts(tag=tag)).data


class TagInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=1000, trim_whitespace=False)
    target_precision = serializers.FloatField(
        required=False, allow_null=True, min_value=0.0, max_value=1.0
    )


class TagListApi(BaseApi):
    roles = {"POST": LABEL}

    @extend_schema(
        operation_id="api_tags_list",
        summary="Custom tags",
        parameters=PAGE_PARAMETERS,
        responses={200: paged(TagSerializer), **COMMON_ERRORS},
    )
    def get(self, request):
        return paginate(request, selectors.tag_list(), TagSerializer)

    @extend_schema(
        operation_id="api_tags_create",
        summary="Create a tag (optionally with a target precision)",
        request=TagInputSerializer,
        responses={
            201: TagSerializer,
            400: error("Bad name or target_precision."),
            409: error("The tag exists."),
            **COMMON_ERRORS,
        },
    )
    def post(self, request):
        data = _valid(TagInputSerializer, request.data)
        tag = tag_create(name=data["name"], target_precision=data.get("target_precision"))
        return Response(tag_body(tag), status=status.HTTP_201_CREATED)


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class TagDetailApi(BaseApi):
    roles = {"PATCH": LABEL, "DELETE": CURATE}

    class UpdateSerializer(serializers.Serializer):
        class Meta:
            ref_name = "TagUpdate"

        target_precision = serializers.FloatField(allow_null=True, min_value=0.0, max_value=1.0)

    @extend_schema(
        operation_id="api_tags_detail",
        summary="One tag",
        responses={200: TagSerializer, 404: error("No such tag."), **COMMON_ERRORS},
    )
    def get(self, request, tag: str):
        return Response(tag_body(tag_get(name=tag)))

    @extend_schema(
        operation_id="api_tags_update",
        summary="Set or clear the tag's target precision (used by the next training)",
        request=UpdateSerializer,
        responses={200: TagSerializer, 400: error("Bad value."), 404: error("No such tag.")},
    )
    def patch(self, request, tag: str):
        custom_tag = tag_get(name=tag)
        data = _valid(self.UpdateSerializer, request.data)
        updated = tag_update(tag=custom_tag, target_precision=data["target_precision"])
        return Response(tag_body(updated))

    @extend_schema(
        operation_id="api_tags_delete",
        summary="Reset the tag (same as /custom/delete/<tag>)",
        responses={200: dict, 404: error("No such tag."), **COMMON_ERRORS},
    )
    def delete(self, request, tag: str):
        return Response(tag_reset(tag=tag_get(name=tag)))


# --- assignments ----------------------------------------------------------------------


class AssignmentSerializer(serializers.ModelSerializer):
    image_id = serializers.CharField(source="image.image_id")
    tag = serializers.CharField(source="tag.name")
    assigned_by = serializers.CharField(
        source="assigned_by.username", default=None, allow_null=True
    )

    class Meta:
        model = Assignment
        fields = ["image_id", "tag", "label", "assigned_by", "created", "updated"]


class AssignmentListApi(BaseApi):
    roles = {"POST": LABEL}

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AssignmentInput"

        image_id = serializers.CharField(max_length=64)
        label = serializers.CharField(max_length=20, help_text="positive or negative")

    @extend_schema(
        operation_id="api_assignments_list",
        summary="The tag's labelled images",
        parameters=[
            *PAGE_PARAMETERS,
            OpenApiParameter("label", str, description="positive or negative"),
        ],
        responses={200: paged(AssignmentSerializer), 404: error("No such tag."), **COMMON_ERRORS},
    )
    def get(self, request, tag: str):
        rows = selectors.assignment_list(
            tag=tag_get(name=tag), label=request.query_params.get("label") or None
        )
        return paginate(request, rows, AssignmentSerializer)

    @extend_schema(
        operation_id="api_assignments_set",
        summary="Assign an image to the tag (creates the tag, switches a label)",
        request=InputSerializer,
        responses={
            200: AssignmentSerializer,
            400: error("Bad label or tag name."),
            404: error("No such image."),
            **COMMON_ERRORS,
        },
    )
    def post(self, request, tag: str):
        data = _valid(self.InputSerializer, request.data)
        label_validate(label=data["label"])
        image = image_get(image_id=data["image_id"])
        assignment = assignment_set(
            image=image, tag_name=tag, label=data["label"], user=user_of(request)
        )
        return Response(AssignmentSerializer(assignment).data)


class AssignmentDetailApi(BaseApi):
    roles = {"DELETE": LABEL}

    @extend_schema(
        operation_id="api_assignments_delete",
        summary="Remove an image from the tag's examples",
        responses={204: None, 404: error("No such tag, image or assignment."), **COMMON_ERRORS},
    )
    def delete(self, request, tag: str, image_id: str):
        assignment_delete(tag=tag_get(name=tag), image=image_get(image_id=image_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- training and versions ------------------------------------------------------------


class TagTrainApi(BaseApi):
    roles = {"POST": LABEL}

    @extend_schema(
        operation_id="api_tags_train",
        summary="Queue a training (same as /custom/train/<tag>)",
        request=None,
        responses={
            202: JobOutputSerializer,
            400: error("No positive or no negative images."),
            404: error("No such tag."),
            409: error("A training is already queued or running."),
            **COMMON_ERRORS,
        },
    )
    def post(self, request, tag: str):
        job = tag_train_enqueue(tag=tag_get(name=tag), user=user_of(request))
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class VersionSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    is_active = serializers.BooleanField()
    backbone = serializers.CharField()
    weights_digest = serializers.CharField()
    feature_dim = serializers.IntegerField()
    threshold = serializers.FloatField()
    metrics = serializers.DictField()
    positives = serializers.IntegerField()
    negatives = serializers.IntegerField()
    created = serializers.DateTimeField()


class VersionListApi(BaseApi):
    @extend_schema(
        operation_id="api_versions_list",
        summary="The tag's versions, newest first",
        parameters=PAGE_PARAMETERS,
        responses={200: paged(VersionSerializer), 404: error("No such tag."), **COMMON_ERRORS},
    )
    def get(self, request, tag: str):
        rows = selectors.version_list(tag=tag_get(name=tag))
        return paginate(request, rows, VersionSerializer)


class VersionDetailApi(BaseApi):
    @extend_schema(
        operation_id="api_versions_detail",
        summary="One version with its metrics",
        responses={200: VersionSerializer, 404: error("No such tag or version."), **COMMON_ERRORS},
    )
    def get(self, request, tag: str, number: int):
        version = version_get(tag=tag_get(name=tag), number=number)
        return Response(VersionSerializer(version).data)


class VersionActivateApi(BaseApi):
    roles = {"POST": LABEL}

    @extend_schema(
        operation_id="api_versions_activate",
        summary="Make this version the active one (rollback)",
        request=None,
        responses={
            200: VersionSerializer,
            404: error("No such tag or version."),
            409: error("Trained on another backbone."),
            **COMMON_ERRORS,
        },
    )
    def post(self, request, tag: str, number: int):
        version = version_activate(tag=tag_get(name=tag), number=number)
        return Response(VersionSerializer(version).data)


# --- jobs -----------------------------------------------------------------------------


class JobListApi(BaseApi):
    @extend_schema(
        operation_id="api_jobs_list",
        summary="Jobs of every kind, newest first",
        parameters=[
            *PAGE_PARAMETERS,
            OpenApiParameter(
                "state", str, description="queued, running, success, error or cancelled"
            ),
            OpenApiParameter(
                "kind",
                str,
                description="training, library_prediction, naive_export or naive_training",
            ),
        ],
        responses={
            200: paged(JobOutputSerializer),
            400: error("Unknown state or kind."),
            **COMMON_ERRORS,
        },
    )
    def get(self, request):
        params = request.query_params
        rows = job_list(state=params.get("state") or None, kind=params.get("kind") or None)
        jobs_expire_stale()  # after the filters' 400s: dead jobs are not listed as running
        return paginate(request, rows, JobOutputSerializer)


class JobDetailApi(BaseApi):
    @extend_schema(
        operation_id="api_jobs_detail",
        summary="One job (same as /status/<task_id>)",
        responses={200: JobOutputSerializer, 404: error("No such task."), **COMMON_ERRORS},
    )
    def get(self, request, task_id: str):
        return Response(JobOutputSerializer(job_get(task_id=task_id)).data)


class JobCancelApi(BaseApi):
    roles = {"POST": LABEL}

    @extend_schema(
        operation_id="api_jobs_cancel",
        summary="Cancel a queued or running job",
        request=None,
        responses={
            200: JobOutputSerializer,
            404: error("No such task."),
            409: error("Already finished."),
            **COMMON_ERRORS,
        },
    )
    def post(self, request, task_id: str):
        return Response(JobOutputSerializer(job_cancel(task_id=task_id)).data)


# --- library-wide predictions ---------------------------------------------------------


class LibraryPredictionListApi(BaseApi):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LibraryPredictionInput"

        tags = serializers.ListField(
            child=serializers.CharField(max_length=1000, trim_whitespace=False),
            required=False,
            help_text="Tag names; default every trained tag.",
        )

    @extend_schema(
        operation_id="api_predictions_list",
        summary="Library prediction jobs, newest first",
        parameters=PAGE_PARAMETERS,
        responses={200: paged(JobOutputSerializer), **COMMON_ERRORS},
    )
    def get(self, request):
        return paginate(request, selectors.prediction_job_list(), JobOutputSerializer)

    @extend_schema(
        operation_id="api_predictions_create",
        summary="Score every stored image with the chosen tags in the background (CSV result)",
        request=InputSerializer,
        responses={
            202: JobOutputSerializer,
            400: error("Bad tag names."),
            404: error("No such tag."),
            409: error("A tag has no trained version."),
            **COMMON_ERRORS,
        },
    )
    def post(self, request):
        data = _valid(self.InputSerializer, request.data)
        job = library_prediction_create(tag_names=data.get("tags") or None, user=user_of(request))
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class LibraryPredictionDetailApi(BaseApi):
    @extend_schema(
        operation_id="api_predictions_detail",
        summary="One library prediction job",
        responses={200: JobOutputSerializer, 404: error("No such task."), **COMMON_ERRORS},
    )
    def get(self, request, task_id: str):
        return Response(JobOutputSerializer(_prediction_job(task_id)).data)


def _prediction_job(task_id: str) -> PredictionJob:
    job = job_get(task_id=task_id)
    if not isinstance(job, PredictionJob):
        raise errors.JobNotFound(f"No library prediction with task_id {task_id!r}.")
    return job


class LibraryPredictionCsvApi(BaseApi):
    @extend_schema(
        operation_id="api_predictions_csv",
        summary="Download the CSV: image_id, then '<tag>:score' and '<tag>:prediction'",
        responses={
            (200, "text/csv"): bytes,
            404: error("No such task."),
            409: error("Not finished successfully."),
            **COMMON_ERRORS,
        },
    )
    def get(self, request, task_id: str):
        return FileResponse(
            prediction_result_open(job=_prediction_job(task_id)),
            as_attachment=True,
            filename=f"predictions-{task_id}.csv",
            content_type="text/csv",
        )
