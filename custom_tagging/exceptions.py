"""Every way a custom-tagging call can fail, with its HTTP status: the body is {"detail": ...}.

Services raise these directly, so a view never has to translate, and a background task
stores ``str(exc)`` as the job's error message.
"""

from rest_framework import status
from rest_framework.exceptions import APIException

# The HTTP plumbing's own failures (uploads, query parameters, cross-site requests), raised
# by muses.api and by the services here alike.
from muses.api.exceptions import (  # noqa: F401
    CrossSiteRefused,
    DuplicateUpload,
    InvalidQuery,
    MissingUpload,
    UploadTooLarge,
)

# The job mechanism's own failures, raised by muses.jobs and named here with the others.
from muses.jobs.exceptions import (  # noqa: F401
    JobCancelled,
    JobNotCancellable,
    JobNotFound,
    QueueUnavailable,
)


class InvalidImage(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The upload is not an image that can be decoded."
    default_code = "invalid_image"


class InvalidImageId(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "image_id must be 1-64 letters, digits, '-' or '_'."
    default_code = "invalid_image_id"


class ImageIdTaken(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This image_id is already used; nothing was overwritten."
    default_code = "image_id_taken"


class ImageNotFound(APIException):
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = "No image with this image_id."
    default_code = "image_not_found"


class InvalidTagName(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Invalid tag name."
    default_code = "invalid_tag_name"


class TagNotFound(APIException):
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = "No custom tag with this name."
    default_code = "tag_not_found"


class TagExists(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "A custom tag with this name already exists."
    default_code = "tag_exists"


class TagNotTrained(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This tag has no trained version yet: train it first."
    default_code = "tag_not_trained"


class InvalidSampleType(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The type must be 'positive' or 'negative'."
    default_code = "invalid_type"


class TrainingDataMissing(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The tag needs at least one positive and one negative image."
    default_code = "training_data_missing"


class TrainingInProgress(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "A training of this tag is already queued or running."
    default_code = "training_in_progress"


class VersionNotFound(APIException):
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = "This tag has no version with this number."
    default_code = "version_not_found"


class VersionIncompatible(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This version was trained on another backbone's features."
    default_code = "version_incompatible"


class ResultNotReady(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The task has not finished successfully; there is no result to download."
    default_code = "result_not_ready"


class InvalidState(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The state file is not a valid custom-tagging state tar."
    default_code = "invalid_state"


class BackboneMismatch(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The state was made with another backbone or other weights."
    default_code = "backbone_mismatch"


class BackboneNotReady(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The feature backbone is not available."
    default_code = "backbone_unavailable"


class FeaturesUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The feature index of this machine is being rebuilt; try again shortly."
    default_code = "features_unavailable"
