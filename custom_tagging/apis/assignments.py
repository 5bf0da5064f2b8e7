"""Assignments: `/custom/assign/<image_id>/<type>/<tag>` (the seed) and
`/api/tags/<tag>/assignments`, both through assignment_set."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from custom_tagging import selectors
from custom_tagging.models import Assignment
from custom_tagging.services.tags import (
    assignment_delete,
    assignment_set,
    label_validate,
    tag_counts,
    tag_name_validate,
)
from muses.api.pagination import PAGE_PARAMETERS, paged, paginate
from muses.api.params import user_of, validated
from muses.api.schema import COMMON_ERRORS, error
from muses.api.views import BaseApi, StateChangingGetApi
from muses.roles import LABEL


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
        image = selectors.image_get(image_id=image_id)
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
            tag=selectors.tag_get(name=tag), label=request.query_params.get("label") or None
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
        data = validated(self.InputSerializer, request.data)
        label_validate(label=data["label"])
        image = selectors.image_get(image_id=data["image_id"])
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
        custom_tag = selectors.tag_get(name=tag)  # an unknown tag is named first
        assignment_delete(tag=custom_tag, image=selectors.image_get(image_id=image_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
