"""Tags: `/custom/delete/<tag>` (the seed's reset) and `/api/tags`, `/api/tags/<tag>`."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from custom_tagging import selectors
from custom_tagging.models import CustomTag
from custom_tagging.services.tags import tag_create, tag_reset, tag_update
from muses.api.pagination import PAGE_PARAMETERS, paged, paginate
from muses.api.params import validated
from muses.api.schema import COMMON_ERRORS, error
from muses.api.views import BaseApi, StateChangingGetApi
from muses.roles import CURATE, LABEL


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
        data = validated(TagInputSerializer, request.data)
        tag = tag_create(name=data["name"], target_precision=data.get("target_precision"))
        return Response(tag_body(tag), status=status.HTTP_201_CREATED)


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
        return Response(tag_body(selectors.tag_get(name=tag)))

    @extend_schema(
        operation_id="api_tags_update",
        summary="Set or clear the tag's target precision (used by the next training)",
        request=UpdateSerializer,
        responses={200: TagSerializer, 400: error("Bad value."), 404: error("No such tag.")},
    )
    def patch(self, request, tag: str):
        custom_tag = selectors.tag_get(name=tag)
        data = validated(self.UpdateSerializer, request.data)
        updated = tag_update(tag=custom_tag, target_precision=data["target_precision"])
        return Response(tag_body(updated))

    @extend_schema(
        operation_id="api_tags_delete",
        summary="Reset the tag (same as /custom/delete/<tag>)",
        responses={200: dict, 404: error("No such tag."), **COMMON_ERRORS},
    )
    def delete(self, request, tag: str):
        return Response(tag_reset(tag=selectors.tag_get(name=tag)))


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
        return Response(self.OutputSerializer(tag_reset(tag=selectors.tag_get(name=tag))).data)

    @extend_schema(operation_id="custom_delete_post", **doc)
    def post(self, request, tag: str):
        return self.get(request, tag)
