"""Library-wide predictions: `/api/predictions`, one job and its CSV."""

from django.http import FileResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from custom_tagging import selectors
from custom_tagging.jobs import library_prediction_create
from custom_tagging.services.library import prediction_result_open
from muses.api.pagination import PAGE_PARAMETERS, paged, paginate
from muses.api.params import user_of, validated
from muses.api.schema import COMMON_ERRORS, error
from muses.api.views import BaseApi
from muses.jobs.serializers import JobOutputSerializer


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
        data = validated(self.InputSerializer, request.data)
        job = library_prediction_create(tag_names=data.get("tags") or None, user=user_of(request))
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class LibraryPredictionDetailApi(BaseApi):
    @extend_schema(
        operation_id="api_predictions_detail",
        summary="One library prediction job",
        responses={200: JobOutputSerializer, 404: error("No such task."), **COMMON_ERRORS},
    )
    def get(self, request, task_id: str):
        return Response(JobOutputSerializer(selectors.prediction_job_get(task_id=task_id)).data)


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
            prediction_result_open(job=selectors.prediction_job_get(task_id=task_id)),
            as_attachment=True,
            filename=f"predictions-{task_id}.csv",
            content_type="text/csv",
        )
