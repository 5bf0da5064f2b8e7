"""The job endpoints of every kind: `/status/<task_id>` (the seed's), `/api/jobs`, one job
and its cancel. Each kind describes itself through ``Job.status_fields``."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from muses.api.pagination import PAGE_PARAMETERS, paged, paginate
from muses.api.schema import COMMON_ERRORS, error
from muses.api.views import BaseApi
from muses.jobs.selectors import job_list
from muses.jobs.serializers import JobOutputSerializer
from muses.jobs.services import job_cancel, job_get, jobs_expire_stale
from muses.jobs.workers import job_waiting_problem
from muses.roles import LABEL


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
