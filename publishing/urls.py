from django.urls import path, re_path

from publishing import apis

urlpatterns = [
    path("api/iiif/annotations", apis.ItemAnnotationsApi.as_view(), name="iiif-item-annotations"),
    path(
        "api/iiif/annotations/<str:image_id>",
        apis.ImageAnnotationsApi.as_view(),
        name="iiif-image-annotations",
    ),
    re_path(
        r"^api/predictions/(?P<task_id>[^/]+)/records\.(?P<fmt>csv|jsonl)$",
        apis.PredictionRecordsApi.as_view(),
        name="api-prediction-records",
    ),
]
