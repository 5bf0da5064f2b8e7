"""Curation endpoints under /api/."""

from django.urls import path

from curation import apis

urlpatterns = [
    path(
        "api/tags/<str:tag>/label-issues",
        apis.TagLabelIssuesApi.as_view(),
        name="api-tag-label-issues",
    ),
    path(
        "api/naive/label-issues",
        apis.NaiveLabelIssuesApi.as_view(),
        name="api-naive-label-issues",
    ),
]
