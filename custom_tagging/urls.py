"""The seed's paths exactly as `customized-training.rst` writes them, then REST resources.

`/custom/predict/<a>/<b>` is tag then image; `/custom/predict/<a>` is an image. A tag name
is one path segment, so it cannot contain '/' (the API refuses such names).
"""

from django.urls import path

from custom_tagging import apis
from custom_tagging import resource_apis as api

urlpatterns = [
    # --- the seed -------------------------------------------------------------------
    path("system/database/image/add", apis.ImageAddApi.as_view(), name="image-add"),
    path(
        "custom/assign/<str:image_id>/<str:sample_type>/<str:tag>",
        apis.AssignApi.as_view(),
        name="custom-assign",
    ),
    path("custom/train/<str:tag>", apis.TrainApi.as_view(), name="custom-train"),
    path("status/<str:task_id>", apis.StatusApi.as_view(), name="status"),
    path("custom/delete/<str:tag>", apis.TagResetApi.as_view(), name="custom-delete"),
    path("predict/custom/<str:tag>", apis.PredictUploadTagApi.as_view(), name="predict-tag"),
    path("predict/custom", apis.PredictUploadCustomApi.as_view(), name="predict-custom"),
    path("predict", apis.PredictUploadAllApi.as_view(), name="predict"),
    # Before custom/predict/<image_id>, so a future pattern change cannot swallow it.
    path("custom/predict_batch", apis.PredictBatchApi.as_view(), name="custom-predict-batch"),
    path(
        "custom/predict/<str:tag>/<str:image_id>",
        apis.PredictImageTagApi.as_view(),
        name="custom-predict-tag-image",
    ),
    path(
        "custom/predict/<str:image_id>", apis.PredictImageApi.as_view(), name="custom-predict-image"
    ),
    path("set_state", apis.StateSetApi.as_view(), name="set-state"),
    path("get_state", apis.StateGetApi.as_view(), name="get-state"),
    # --- beyond the seed ------------------------------------------------------------
    path("custom/suggest/<str:tag>", apis.SuggestApi.as_view(), name="custom-suggest"),
    path("similar/<str:image_id>", apis.SimilarApi.as_view(), name="similar"),
    # --- REST resources -------------------------------------------------------------
    path("api/images", api.ImageListApi.as_view(), name="api-images"),
    path("api/images/<str:image_id>", api.ImageDetailApi.as_view(), name="api-image"),
    path("api/tags", api.TagListApi.as_view(), name="api-tags"),
    path("api/tags/<str:tag>", api.TagDetailApi.as_view(), name="api-tag"),
    path(
        "api/tags/<str:tag>/assignments",
        api.AssignmentListApi.as_view(),
        name="api-assignments",
    ),
    path(
        "api/tags/<str:tag>/assignments/<str:image_id>",
        api.AssignmentDetailApi.as_view(),
        name="api-assignment",
    ),
    path("api/tags/<str:tag>/train", api.TagTrainApi.as_view(), name="api-tag-train"),
    path("api/tags/<str:tag>/versions", api.VersionListApi.as_view(), name="api-versions"),
    path(
        "api/tags/<str:tag>/versions/<int:number>",
        api.VersionDetailApi.as_view(),
        name="api-version",
    ),
    path(
        "api/tags/<str:tag>/versions/<int:number>/activate",
        api.VersionActivateApi.as_view(),
        name="api-version-activate",
    ),
    path("api/jobs", api.JobListApi.as_view(), name="api-jobs"),
    path("api/jobs/<str:task_id>", api.JobDetailApi.as_view(), name="api-job"),
    path("api/jobs/<str:task_id>/cancel", api.JobCancelApi.as_view(), name="api-job-cancel"),
    path("api/predictions", api.LibraryPredictionListApi.as_view(), name="api-predictions"),
    path(
        "api/predictions/<str:task_id>",
        api.LibraryPredictionDetailApi.as_view(),
        name="api-prediction",
    ),
    path(
        "api/predictions/<str:task_id>/csv",
        api.LibraryPredictionCsvApi.as_view(),
        name="api-prediction-csv",
    ),
]
