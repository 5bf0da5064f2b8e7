"""A tag's trained versions: `/api/tags/<tag>/versions`, one version, its activation."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from custom_tagging import selectors
from custom_tagging.services.versions import version_activate
from muses.api.pagination import PAGE_PARAMETERS, paged, paginate
from muses.api.schema import COMMON_ERRORS, error
from muses.api.views import BaseApi
from muses.roles import LABEL


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
        rows = selectors.version_list(tag=selectors.tag_get(name=tag))
        return paginate(request, rows, VersionSerializer)


class VersionDetailApi(BaseApi):
    @extend_schema(
        operation_id="api_versions_detail",
        summary="One version with its metrics",
        responses={200: VersionSerializer, 404: error("No such tag or version."), **COMMON_ERRORS},
    )
    def get(self, request, tag: str, number: int):
        version = selectors.version_get(tag=selectors.tag_get(name=tag), number=number)
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
        version = version_activate(tag=selectors.tag_get(name=tag), number=number)
        return Response(VersionSerializer(version).data)
