"""Stored media (images, library-prediction CSVs) behind the API's own authentication.

With tokens required, a file under /media/ needs the token (or the admin's session, for its
thumbnails) as the API does: a prediction CSV must not be readable by whoever learns its
task id. On S3 the storage hands out signed, expiring URLs instead and this view is unused.
"""

import mimetypes

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.static import serve
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.views import APIView

from muses.api.permissions import ApiOpenOrAuthenticated


class MediaFileView(APIView):
    permission_classes = [ApiOpenOrAuthenticated]

    @extend_schema(exclude=True)  # files, not an API operation
    def get(self, request, path: str):
        prefix = settings.MUSES_MEDIA_ACCEL_REDIRECT
        if prefix:
            return _accel_redirect(prefix, path)
        # MEDIA_ROOT is read per request, not frozen when the URLconf is imported.
        try:
            return serve(request._request, path, document_root=settings.MEDIA_ROOT)
        except Http404:
            # Django's message names the absolute path on the server: say less.
            raise NotFound(f"No media file at {path[:200]!r}.") from None


def _accel_redirect(prefix: str, path: str) -> HttpResponse:
    """nginx serves the file from its internal location once Django has said yes."""
    if path.startswith("/") or ".." in path.split("/"):
        raise NotFound("No such media file.")
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    response = HttpResponse(content_type=content_type)
    response["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + path
    return response
