"""Likely label errors over HTTP: `GET /api/tags/<tag>/label-issues` and
`GET /api/naive/label-issues`, paginated with ?limit= and ?offset=."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from curation.label_issue_requests import naive_label_issues, tag_label_issues
from curation.models import CurationJob
from curation.services.label_issue_reports import (
    SOURCE_ASSIGNMENT,
    SOURCE_CURATOR,
    SOURCE_WORDS,
    LabelIssueReport,
)
from custom_tagging.selectors import tag_get
from muses.api.pagination import DEFAULT_PAGE, MAX_OFFSET, MAX_PAGE
from muses.api.params import bool_param, int_param
from muses.api.schema import COMMON_ERRORS, error
from muses.api.views import BaseApi
from muses.collection.models import Image

PAGE_PARAMETERS = [
    OpenApiParameter("limit", int, description="Page size (1-1000, default 100)."),
    OpenApiParameter("offset", int, description="Issues to skip."),
]
ISSUE_ERRORS = {
    404: error("No such tag."),
    409: error("No labelled image has features yet, or too few labels for the folds."),
    **COMMON_ERRORS,
}


class LabelIssueSerializer(serializers.Serializer):
    rank = serializers.IntegerField(help_text="1 is the most likely error.")
    image_id = serializers.CharField()
    url = serializers.CharField(help_text="The stored image.")
    title = serializers.CharField(help_text="The record's title ('' for an upload).")
    given = serializers.CharField(help_text="The label the image has now.")
    suggested = serializers.CharField(help_text="The label its image suggests.")
    given_probability = serializers.FloatField(
        help_text="Out-of-fold probability of the given label (low: likely wrong)."
    )
    suggested_probability = serializers.FloatField(
        help_text="Out-of-fold probability of the suggested label."
    )
    source = serializers.ChoiceField(
        choices=[SOURCE_WORDS, SOURCE_CURATOR, SOURCE_ASSIGNMENT],
        help_text="Where the given label comes from: record words, a curator, a tag assignment.",
    )
    word = serializers.CharField(help_text="The record's word that decided a naive class.")


class LabelIssuePageSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Likely errors in all.")
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    examples = serializers.IntegerField(help_text="Labelled images cross-validated.")
    folds = serializers.IntegerField()
    without_features = serializers.IntegerField(help_text="Labelled images left out: no features.")
    left_out_classes = serializers.DictField(
        child=serializers.IntegerField(), help_text="Classes with too few images for the folds."
    )
    results = LabelIssueSerializer(many=True)


class ReportPendingSerializer(serializers.Serializer):
    detail = serializers.CharField()
    task_id = serializers.CharField()
    state = serializers.CharField()
    status_url = serializers.CharField(help_text="Ask it, then this endpoint again on success.")


def page_params(request) -> tuple[int, int]:
    """(limit, offset), checked before any report is looked up or queued: a bad page is
    400 whether the report is ready or not, on every database."""
    limit = int_param(request, "limit", default=DEFAULT_PAGE, low=1, high=MAX_PAGE)
    offset = int_param(request, "offset", default=0, low=0, high=MAX_OFFSET)
    return limit, offset


def report_reply(report, page: tuple[int, int]) -> Response:
    """The page of a ready report; 202 with the job computing it otherwise."""
    if not isinstance(report, CurationJob):
        return issue_page(report, *page)
    body = {
        "detail": "The report of these labels is being computed; ask again when the task "
        "has succeeded.",
        "task_id": report.task_id,
        "state": report.state,
        "status_url": f"/status/{report.task_id}",
    }
    return Response(ReportPendingSerializer(body).data, status=status.HTTP_202_ACCEPTED)


def issue_page(report: LabelIssueReport, limit: int, offset: int) -> Response:
    page = report.issues[offset : offset + limit]
    images = Image.objects.select_related("item").in_bulk(
        [issue["image_id"] for issue in page], field_name="image_id"
    )
    results = [_with_image(issue, images.get(issue["image_id"])) for issue in page]
    body = {
        "count": len(report.issues),
        "limit": limit,
        "offset": offset,
        "examples": report.examples,
        "folds": report.folds,
        "without_features": report.without_features,
        "left_out_classes": report.left_out_classes,
        "results": results,
    }
    return Response(LabelIssuePageSerializer(body).data)


def _with_image(issue: dict, image: Image | None) -> dict:
    url = image.file.url if image is not None else ""
    title = image.item.title if image is not None and image.item else ""
    return {**issue, "url": url, "title": title}


class TagLabelIssuesApi(BaseApi):
    @extend_schema(
        operation_id="api_tag_label_issues",
        summary="A tag's likely label errors (confident learning), most likely first",
        parameters=PAGE_PARAMETERS,
        responses={200: LabelIssuePageSerializer, 202: ReportPendingSerializer, **ISSUE_ERRORS},
    )
    def get(self, request, tag: str):
        page = page_params(request)
        return report_reply(tag_label_issues(tag=tag_get(name=tag)), page)


class NaiveLabelIssuesApi(BaseApi):
    @extend_schema(
        operation_id="api_naive_label_issues",
        summary="The naive dataset's likely label errors (confident learning), most likely first",
        parameters=[
            *PAGE_PARAMETERS,
            OpenApiParameter(
                "include_curated", bool, description="Also list classes a curator has set."
            ),
        ],
        responses={200: LabelIssuePageSerializer, 202: ReportPendingSerializer, **ISSUE_ERRORS},
    )
    def get(self, request):
        page = page_params(request)
        include_curated = bool_param(request, "include_curated")
        return report_reply(naive_label_issues(include_curated=include_curated), page)
