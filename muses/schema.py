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
