from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

def media(request, path):
    # MEDIA_ROOT is read per request, not frozen when the URLconf is imported.
    return serve(request, path, document_root=settings.MEDIA_ROOT)


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("custom_tagging.urls")),
    # Media are served by Django for the embedded profile; production puts a proxy in front.
    re_path(r"^media/(?P<path>.*)$", media),
]
