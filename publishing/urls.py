from django.urls import path, re_path

from publishing import apis

urlpatterns = [
    path("api/iiif/annotations", apis.ItemAnnotationsApi.as_view(), name="iiif-item-annotations"),
    path(
        "api/iiif/annotations/<str:image_id>",
        apis.ImageAnnotationsApi.as_view(),
        name="iiif-image-annotations",
    ),
    path(
        "api/iiif/tags/<str:tag>/positives/manifest",
        apis.TagPositivesManifestApi.as_view(),
        name="iiif-tag-positives-manifest",
    ),
    path(
        "api/iiif/tags/<str:tag>/predictions/manifest",
        apis.TagPredictionsManifestApi.as_view(),
        name="iiif-tag-predictions-manifest",
    ),
    path(
        "api/iiif/classes/<str:name>/manifest",
        apis.NaiveClassManifestApi.as_view(),
        name="iiif-naive-class-manifest",
    ),
    re_path(
        r"^api/predictions/(?P<task_id>[^/]+)/records\.(?P<fmt>csv|jsonl)$",
        apis.PredictionRecordsApi.as_view(),
        name="api-prediction-records",
    ),
]
