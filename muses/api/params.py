"""Reading a request: the uploaded file, query parameters, a validated body, the user."""

from django.conf import settings

from muses.api import exceptions as errors

# Room for the multipart boundaries and headers around the file itself.
MULTIPART_OVERHEAD = 64 * 1024
UPLOAD_FIELD = "data"


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


def validated(serializer_class, data) -> dict:
    """The body checked by serializer_class: a 400 with the field errors otherwise."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
