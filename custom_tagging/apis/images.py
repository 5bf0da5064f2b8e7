"""Images: `POST /system/database/image/add` (the seed) and `/api/images`, both adding
through image_add_from_request."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from custom_tagging import exceptions as errors
from custom_tagging import selectors
from custom_tagging.services.images import image_add
from muses.api.pagination import PAGE_PARAMETERS, paged, paginate
from muses.api.params import uploaded_file
from muses.api.schema import COMMON_ERRORS, UploadSerializer, error
from muses.api.views import BaseApi, UploadApi
from muses.collection.models import Image
from muses.roles import LABEL


def image_add_from_request(request) -> Image:
    """The upload of `POST /system/database/image/add` and `POST /api/images`: field
    `data`, optional `image_id` in the query or the form."""
    data, name = uploaded_file(request)
    image_id = request.query_params.get("image_id")
    if image_id is None:
        image_id = request.data.get("image_id")
    if image_id == "":  # an unset variable in the client, most likely: say so
        raise errors.InvalidImageId("image_id is empty: leave it out to have one generated.")
    return image_add(data=data, name=name, image_id=image_id)


class ImageAddApi(UploadApi):
    roles = {"POST": LABEL}

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ImageAddOutput"

        image_id = serializers.CharField()
        width = serializers.IntegerField()
        height = serializers.IntegerField()
        format = serializers.CharField()

    @extend_schema(
        operation_id="image_add",
        summary="Add an image and store its features",
        parameters=[
            OpenApiParameter(
                "image_id", str, description="Optional: letters, digits, '-', '_' (max 64)."
            )
        ],
        request=UploadSerializer,
        responses={
            201: OutputSerializer,
            400: error("No 'data' field, not an image, or a bad image_id."),
            409: error("The image_id is already used."),
            413: error("Larger than MUSES_MAX_UPLOAD_BYTES."),
            **COMMON_ERRORS,
        },
    )
    def post(self, request):
        image = image_add_from_request(request)
        return Response(self.OutputSerializer(image).data, status=status.HTTP_201_CREATED)


class ImageSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = ["image_id", "width", "height", "format", "original_name", "created", "url"]

    def get_url(self, image) -> str:
        # The storage's URL: /media/... locally, the bucket's (signed) URL on S3.
        return image.file.url


class ImageListApi(UploadApi):
    roles = {"POST": LABEL}

    def get_throttles(self):
        return super().get_throttles() if self.request.method == "POST" else []

    @extend_schema(
        operation_id="api_images_list",
        summary="Stored images, newest first",
        parameters=PAGE_PARAMETERS,
        responses={200: paged(ImageSerializer), **COMMON_ERRORS},
    )
    def get(self, request):
        return paginate(request, selectors.image_list(), ImageSerializer)

    @extend_schema(
        operation_id="api_images_create",
        summary="Add an image (same as /system/database/image/add)",
        parameters=[OpenApiParameter("image_id", str, description="Optional id.")],
        request=UploadSerializer,
        responses={
            201: ImageSerializer,
            400: error("No 'data' field, not an image, or a bad image_id."),
            409: error("The image_id is already used."),
            413: error("Larger than MUSES_MAX_UPLOAD_BYTES."),
            **COMMON_ERRORS,
        },
    )
    def post(self, request):
        image = image_add_from_request(request)
        return Response(ImageSerializer(image).data, status=status.HTTP_201_CREATED)


class ImageDetailApi(BaseApi):
    class OutputSerializer(ImageSerializer):
        assignments = serializers.SerializerMethodField()

        class Meta(ImageSerializer.Meta):
            ref_name = "ImageWithAssignments"
            fields = ImageSerializer.Meta.fields + ["assignments"]

        def get_assignments(self, image) -> dict[str, str]:
            return dict(image.tag_assignments.values_list("tag__name", "label"))

    @extend_schema(
        operation_id="api_images_detail",
        summary="One stored image and its tag assignments",
        responses={200: OutputSerializer, 404: error("No such image."), **COMMON_ERRORS},
    )
    def get(self, request, image_id: str):
        return Response(self.OutputSerializer(selectors.image_get(image_id=image_id)).data)
