"""Lists paged with ?limit= and ?offset=: {"count", "limit", "offset", "results"}.

Unlike DRF's own limit/offset paging, a limit or offset out of range is a 400, not
silently clamped: a client asking for 5000 rows learns that it gets at most 1000."""

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response

from muses.api.params import int_param

MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_OFFSET = 2**31
PAGE_PARAMETERS = [
    OpenApiParameter("limit", int, description="Page size (1-1000, default 100)."),
    OpenApiParameter("offset", int, description="Rows to skip."),
]


class LimitOffsetPage(LimitOffsetPagination):
    default_limit = DEFAULT_PAGE
    max_limit = MAX_PAGE

    def get_limit(self, request) -> int:
        return int_param(
            request, self.limit_query_param, default=self.default_limit, low=1, high=MAX_PAGE
        )

    def get_offset(self, request) -> int:
        return int_param(request, self.offset_query_param, default=0, low=0, high=MAX_OFFSET)

    def get_paginated_response(self, data) -> Response:
        return Response(
            {"count": self.count, "limit": self.limit, "offset": self.offset, "results": data}
        )


def paginate(request, queryset, serializer_class) -> Response:
    """One page of the queryset, serialized by serializer_class."""
    paginator = LimitOffsetPage()
    rows = paginator.paginate_queryset(queryset, request)
    return paginator.get_paginated_response(serializer_class(rows, many=True).data)


_paged_cache: dict = {}


def paged(serializer_class):
    """A page of serializer_class, one class per serializer so the schema names it once."""
    if serializer_class not in _paged_cache:
        _paged_cache[serializer_class] = _page_of(serializer_class)
    return _paged_cache[serializer_class]


def _page_of(serializer_class):
    return type(
        f"Paged{serializer_class.__name__}",
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "limit": serializers.IntegerField(),
            "offset": serializers.IntegerField(),
            "results": serializer_class(many=True),
        },
    )
