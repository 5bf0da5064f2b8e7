from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.defaults import page_not_found
from drf_spectacular.views import SpectacularSwaggerView

from muses.media_views import MediaFileView
from muses.schema import SchemaView
from muses.views import favicon, home


def not_found(request, exception=None):
    """API clients get {"detail": ...} for unknown paths too; the admin keeps its page."""
    if request.path.startswith(("/admin/", "/media/")):
        return page_not_found(request, exception)
    return JsonResponse({"detail": f"No endpoint at {request.path!r}."}, status=404)


handler404 = not_found


urlpatterns = [
    path("", home, name="home"),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("custom_tagging.urls")),
    path("", include("muses.jobs.urls")),
    path("", include("publishing.urls")),
    path("", include("curation.urls")),
    # Media need the API's token too; in production nginx sends the bytes after Django says
    # yes (MUSES_MEDIA_ACCEL_REDIRECT), or the media live on S3 behind signed URLs.
    re_path(r"^media/(?P<path>.*)$", MediaFileView.as_view(), name="media"),
]
