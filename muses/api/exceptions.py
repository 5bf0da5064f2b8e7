"""The failures of the shared HTTP plumbing itself, with their HTTP status: the body is
{"detail": ...}, as for every app's own failures."""

from rest_framework import status
from rest_framework.exceptions import APIException


class MissingUpload(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Send the file as the multipart form field 'data'."
    default_code = "missing_upload"


class DuplicateUpload(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Send exactly one file in the multipart field 'data'."
    default_code = "duplicate_upload"


class UploadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The upload is too large."
    default_code = "upload_too_large"


class CrossSiteRefused(APIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = "Refusing a state change requested from another site."
    default_code = "cross_site"


class InvalidQuery(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Invalid query parameter."
    default_code = "invalid_query"
