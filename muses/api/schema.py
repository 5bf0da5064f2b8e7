"""OpenAPI helpers: the error body, the upload body and the errors every operation can give."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

from muses.api.params import UPLOAD_FIELD

ErrorSerializer = inline_serializer("Error", {"detail": serializers.CharField()})


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


UploadSerializer = inline_serializer(
    "ImageUpload", {UPLOAD_FIELD: serializers.FileField(help_text="The image file.")}
)
COMMON_ERRORS = {
    401: error("No or bad token (unless MUSES_API_OPEN=1)."),
    403: error("Not allowed: a cross-site request, or the user lacks the role (see muses.roles)."),
}
