"""The seed's paths exactly as `customized-training.rst` writes them, then REST resources.

`/custom/predict/<a>/<b>` is tag then image; `/custom/predict/<a>` is an image. A tag name
is one path segment, so it cannot contain '/' (the API refuses such names). The job
endpoints (`/status/<task_id>`, `/api/jobs`) serve every kind of job: muses.jobs.urls.
"""

from django.urls import path

from custom_tagging.apis import (
    assignments,
    images,
    library,
    predictions,
    state,
    tags,
    training,
    versions,
)

urlpatterns = [
    # --- the seed -------------------------------------------------------------------
    path("system/database/image/add", images.ImageAddApi.as_view(), name="image-add"),
    path(
        "custom/assign/<str:image_id>/<str:sample_type>/<str:tag>",
        assignments.AssignApi.as_view(),
        name="custom-assign",
    ),
    path("custom/train/<str:tag>", training.TrainApi.as_view(), name="custom-train"),
    path("custom/delete/<str:tag>", tags.TagResetApi.as_view(), name="custom-delete"),
    path("predict/custom/<str:tag>", predictions.PredictUploadTagApi.as_view(), name="predict-tag"),
    path("predict/custom", predictions.PredictUploadCustomApi.as_view(), name="predict-custom"),
    path("predict", predictions.PredictUploadAllApi.as_view(), name="predict"),
    # Before custom/predict/<image_id>, so a future pattern change cannot swallow it.
    path(
        "custom/predict_batch", predictions.PredictBatchApi.as_view(), name="custom-predict-batch"
    ),
    path(
        "custom/predict/<str:tag>/<str:image_id>",
        predictions.PredictImageTagApi.as_view(),
        name="custom-predict-tag-image",
    ),
    path(
        "custom/predict/<str:image_id>",
        predictions.PredictImageApi.as_view(),
        name="custom-predict-image",
    ),
    path("set_state", state.StateSetApi.as_view(), name="set-state"),
    path("get_state", state.StateGetApi.as_view(), name="get-state"),
    # --- beyond the seed ------------------------------------------------------------
    path("custom/suggest/<str:tag>", predictions.SuggestApi.as_view(), name="custom-suggest"),
    path("similar/<str:image_id>", predictions.SimilarApi.as_view(), name="similar"),
    # --- REST resources -------------------------------------------------------------
    path("api/images", images.ImageListApi.as_view(), name="api-images"),
    path("api/images/<str:image_id>", images.ImageDetailApi.as_view(), name="api-image"),
    path("api/tags", tags.TagListApi.as_view(), name="api-tags"),
    path("api/tags/<str:tag>", tags.TagDetailApi.as_view(), name="api-tag"),
    path(
        "api/tags/<str:tag>/assignments",
        assignments.AssignmentListApi.as_view(),
        name="api-assignments",
    ),
    path(
        "api/tags/<str:tag>/assignments/<str:image_id>",
        assignments.AssignmentDetailApi.as_view(),
        name="api-assignment",
    ),
    path("api/tags/<str:tag>/train", training.TagTrainApi.as_view(), name="api-tag-train"),
    path("api/tags/<str:tag>/versions", versions.VersionListApi.as_view(), name="api-versions"),
    path(
        "api/tags/<str:tag>/versions/<int:number>",
        versions.VersionDetailApi.as_view(),
        name="api-version",
    ),
    path(
        "api/tags/<str:tag>/versions/<int:number>/activate",
        versions.VersionActivateApi.as_view(),
        name="api-version-activate",
    ),
    path("api/predictions", library.LibraryPredictionListApi.as_view(), name="api-predictions"),
    path(
        "api/predictions/<str:task_id>",
        library.LibraryPredictionDetailApi.as_view(),
        name="api-prediction",
    ),
    path(
        "api/predictions/<str:task_id>/csv",
        library.LibraryPredictionCsvApi.as_view(),
        name="api-prediction-csv",
    ),
]
