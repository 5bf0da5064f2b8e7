"""Ways a publishing request can fail, with their HTTP status; the body is {"detail": ...}."""

from rest_framework import status
from rest_framework.exceptions import APIException


class ItemNotFound(APIException):
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = "No item with this museum and object number."
    default_code = "item_not_found"


class ExportFormatUnknown(ValueError):
    """A format other than csv or jsonl."""


class ResultSetEmpty(APIException):
    """A IIIF Manifest needs at least one canvas: an empty result set has no manifest."""

    status_code = status.HTTP_404_NOT_FOUND
    default_detail = "No image in this result set."
    default_code = "result_set_empty"
