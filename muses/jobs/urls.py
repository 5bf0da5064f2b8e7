"""The job endpoints, one set for every kind of job."""

from django.urls import path

from muses.jobs import apis

urlpatterns = [
    path("status/<str:task_id>", apis.StatusApi.as_view(), name="status"),
    path("api/jobs", apis.JobListApi.as_view(), name="api-jobs"),
    path("api/jobs/<str:task_id>", apis.JobDetailApi.as_view(), name="api-job"),
    path("api/jobs/<str:task_id>/cancel", apis.JobCancelApi.as_view(), name="api-job-cancel"),
]
