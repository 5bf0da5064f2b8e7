"""What every custom-tagging view shares: permission, throttles, upload and query parsing."""

from urllib.parse import urlsplit

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from custom_tagging import exceptions as errors
from muses.json_limits import MAX_JSON_DEPTH, JsonRefused, json_check, too_deep
from muses.roles import HasRole

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
        if settings.MUSES_API_OPEN:
            return True
        return bool(request.user and request.user.is_authenticated)


class RefuseCrossSite(BasePermission):
    """A state change that another web site started in the curator's browser (a link, an
    <img>, a form) is refused: the browser marks such requests (Sec-Fetch-Site, Origin,
    Referer); scripts and the seed's clients send none of these headers and pass."""

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS and not getattr(view, "changes_state_on_get", False):
            return True
        reason = cross_site_reason(request)
        if reason is not None:
            raise errors.CrossSiteRefused(
                f"Refusing a state change requested from another site ({reason}). "
                "Call the API from a script or from MUSES' own pages."
            )
        return True


def cross_site_reason(request) -> str | None:
    """Why the request comes from another site, or None when it does not (or the client
    is not a browser)."""
    origin = request.headers.get("Origin")
    if origin is not None:
        return None if _is_our_origin(request, origin) else f"Origin {origin[:100]!r}"
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        # same-site is a sibling host (another subdomain), which MUSES does not trust either.
        return None if site in ("same-origin", "none") else f"Sec-Fetch-Site: {site[:20]}"
    referer = request.headers.get("Referer")
    if referer is not None and not _is_our_origin(request, referer):
        return f"Referer from {urlsplit(referer).netloc[:100]!r}"
    return None


def _is_our_origin(request, url: str) -> bool:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return False  # "null" (sandboxed frames, file:) or garbage
    origin = f"{parts.scheme}://{parts.netloc}"
    return parts.netloc == request.get_host() or origin in settings.CSRF_TRUSTED_ORIGINS


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, with a 400 instead of a 500 for a body nested too deep, and no
    infinities from numbers such as 1e999999 (muses.json_limits)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
            json_check(data)
        except RecursionError:
            raise exceptions.ParseError(f"JSON parse error - {too_deep(MAX_JSON_DEPTH)}.")
        except JsonRefused as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}.")
        return data


class BaseApi(APIView):
    permission_classes = [RefuseCrossSite, ApiOpenOrAuthenticated, HasRole]
    parser_classes = [BoundedJSONParser, FormParser, MultiPartParser]


SESSION_GET_DETAIL = (
    "A session cookie does not authorise a state change through GET (any web page could "
    "make the browser send it): send 'Authorization: Token <key>', or POST with the CSRF token."
)


class StateChangingGetApi(BaseApi):
    """The seed's /custom/assign, /custom/train and /custom/delete change state through GET,
    which browsers send cross-site freely (links, images) with the session cookie attached.
    Their GET is refused cross-site and authenticated by token only; POST keeps the session
    with Django's CSRF check."""

    changes_state_on_get = True

    def get_authenticators(self):
        authenticators = super().get_authenticators()
        # self.request is still Django's request here (set by View.setup before dispatch).
        if getattr(self.request, "method", None) != "GET":
            return authenticators
        return [a for a in authenticators if not isinstance(a, SessionAuthentication)]

    def permission_denied(self, request, message=None, code=None):
        if request.method == "GET" and settings.SESSION_COOKIE_NAME in request.COOKIES:
            raise exceptions.NotAuthenticated(SESSION_GET_DETAIL)
        super().permission_denied(request, message=message, code=code)


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
    uploads = request.FILES.getlist(UPLOAD_FIELD)
    if not uploads:
        raise errors.MissingUpload()
    if len(uploads) > 1:  # which one was meant? Refuse rather than keep the last.
        raise errors.DuplicateUpload(
            f"Send exactly one file in the multipart field 'data'; this request has {len(uploads)}."
        )
    upload = uploads[0]
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
    403: error("Not allowed: a cross-site request, or the user lacks the role (see muses.roles)."),
}


def image_add_from_request(request):
    """The upload of `POST /system/database/image/add` and `POST /api/images`: field
    `data`, optional `image_id` in the query or the form."""
    from custom_tagging.services.images import image_add

    data, name = uploaded_file(request)
    image_id = request.query_params.get("image_id")
    if image_id is None:
        image_id = request.data.get("image_id")
    if image_id == "":  # an unset variable in the client, most likely: say so
        raise errors.InvalidImageId("image_id is empty: leave it out to have one generated.")
    return image_add(data=data, name=name, image_id=image_id)
