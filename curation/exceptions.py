"""What a curation request can get wrong, as DRF errors with a {"detail": ...} body."""

from rest_framework import status
from rest_framework.exceptions import APIException


class FeaturesMissing(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "No labelled image has features yet."
    default_code = "features_missing"


class TooFewLabels(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Too few labelled examples for cross-validation."
    default_code = "too_few_labels"


class InvalidFix(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Not a fix that applies to this label."
    default_code = "invalid_fix"
