"""Ways a publishing request can fail, with their HTTP status; the body is {"detail": ...}."""

from rest_framework import status
from rest_framework.exceptions import APIException


class ItemNotFound(APIException):
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = "No item with this museum and object number."
    default_code = "item_not_found"


class ExportFormatUnknown(ValueError):
    """A format other than csv or jsonl."""
