"""The state tar: `POST /set_state` loads one, `GET /get_state` downloads one."""

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from custom_tagging.state.apply import state_import
from custom_tagging.state.export import state_export
from muses.api.params import UPLOAD_FIELD, bool_param, uploaded_file
from muses.api.schema import COMMON_ERRORS, error
from muses.api.views import BaseApi, UploadApi
from muses.roles import CURATE

STATE_UPLOAD = inline_serializer(
    "StateUpload", {UPLOAD_FIELD: serializers.FileField(help_text="A state tar from /get_state.")}
)


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
