"""What every custom-tagging view shares: permission, throttles, upload and query parsing."""

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from custom_tagging import exceptions as errors

# Room for the multipart boundaries and headers around the file itself.
MULTIPART_OVERHEAD = 64 * 1024
UPLOAD_FIELD = "data"


class ApiOpenOrAuthenticated(BasePermission):
    """Token (or session) authentication, unless MUSES_API_OPEN is set — read per request,
    so the demo's tokenless seed snippets work and tests can switch it."""

    message = (
        "Authentication credentials were not provided: send 'Authorization: Token <key>' "
        "(the API is open without a token only when MUSES_API_OPEN=1)."
    )

    def has_permission(self, request, view) -> bool:
        if getattr(settings, "MUSES_API_OPEN", False):
            return True
        return bool(request.user and request.user.is_authenticated)


class BaseApi(APIView):
    permission_classes = [ApiOpenOrAuthenticated]
    parser_classes = [JSONParser, FormParser, MultiPartParser]


class UploadApi(BaseApi):
    parser_classes = [MultiPartParser, FormParser]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "uploads"


class PredictionApi(BaseApi):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "predictions"


class PredictionUploadApi(UploadApi):
    throttle_scope = "predictions"


def uploaded_file(request, *, max_bytes: int | None = None) -> tuple[bytes, str]:
    """(content, file name) of the multipart field 'data'; 413 over the size limit, checked
    on the declared length before the body is read."""
    limit = settings.MUSES_MAX_UPLOAD_BYTES if max_bytes is None else max_bytes
    if _declared_length(request) > limit + MULTIPART_OVERHEAD:
        raise _too_large(limit)
    upload = request.FILES.get(UPLOAD_FIELD)
    if upload is None:
        raise errors.MissingUpload()
    if upload.size > limit:
        raise _too_large(limit)
    return upload.read(), upload.name or ""


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _too_large(limit: int) -> errors.UploadTooLarge:
    return errors.UploadTooLarge(f"The upload is larger than the limit of {limit:,} bytes.")


def user_of(request):
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def int_param(request, name: str, *, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.InvalidQuery(f"{name} must be an integer, not {raw[:20]!r}.")
    if not low <= value <= high:
        raise errors.InvalidQuery(f"{name} must be between {low} and {high}.")
    return value


def list_param(raw: str | None) -> list[str]:
    """'a,b,,c' -> ['a', 'b', 'c']."""
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def bool_param(request, name: str) -> bool:
    return (request.query_params.get(name) or "").lower() in {"1", "true", "yes", "on"}


# --- schema helpers -------------------------------------------------------------------

ErrorSerializer = inline_serializer("Error", {"detail": serializers.CharField()})


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


UploadSerializer = inline_serializer(
    "ImageUpload", {UPLOAD_FIELD: serializers.FileField(help_text="The image file.")}
)
STATE_UPLOAD = inline_serializer(
    "StateUpload", {UPLOAD_FIELD: serializers.FileField(help_text="A state tar from /get_state.")}
)
COMMON_ERRORS = {
    401: error("No or bad token (unless MUSES_API_OPEN=1)."),
    403: error("Not allowed."),
}


def image_add_from_request(request):
    """The upload of `POST /system/database/image/add` and `POST /api/images`: field
    `data`, optional `image_id` in the query or the form."""
    from custom_tagging import services

    data, name = uploaded_file(request)
    image_id = request.query_params.get("image_id") or request.data.get("image_id") or None
    return services.image_add(data=data, name=name, image_id=image_id)
