"""The OpenAPI schema view, safe under a threaded server."""

import threading

from drf_spectacular.views import SpectacularAPIView


class SchemaView(SpectacularAPIView):
    """drf-spectacular loads its extension registry lazily and not thread-safely: two first
    schema requests at once in one process (gunicorn's threads) could end in a 500. One
    generation at a time per process; it is a rare, read-only request."""

    _generation = threading.Lock()

    def _get_schema_response(self, request):
        with self._generation:
            return super()._get_schema_response(request)


REQUEST_ERROR = "A malformed path segment or parameter (e.g. an invalid tag name)."
FIELD_ERRORS = {
    "type": "object",
    "description": "Field name -> messages, for a body that fails validation.",
    "additionalProperties": {},
}


def document_request_errors(result, generator, request, public):
    """Every operation can answer 400 (the NUL and UTF-8 path guards, tag-name and paging
    checks), with {"detail"} or, for a body that fails validation, a field -> messages
    map, and one with a body 415: say so in each operation's responses, keeping the
    descriptions views wrote."""
    detail = {"$ref": "#/components/schemas/Error"}
    for methods in result.get("paths", {}).values():
        for operation in methods.values():
            responses = operation.setdefault("responses", {})
            response = responses.setdefault("400", {"description": REQUEST_ERROR})
            response["content"] = {
                "application/json": {"schema": {"anyOf": [detail, FIELD_ERRORS]}}
            }
            if "requestBody" in operation:
                responses.setdefault(
                    "415",
                    {
                        "description": "The body's content type is not one this operation reads.",
                        "content": {"application/json": {"schema": detail}},
                    },
                )
    return result
