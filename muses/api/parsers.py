"""Request body parsers with the bounds every JSON body gets."""

from rest_framework import exceptions
from rest_framework.parsers import JSONParser

from muses.json_limits import MAX_JSON_DEPTH, JsonRefused, json_check, too_deep


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, with a 400 instead of a 500 for a body nested too deep, and no
    infinities from numbers such as 1e999999 (muses.json_limits)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
            json_check(data)
        except RecursionError:
            raise exceptions.ParseError(f"JSON parse error - {too_deep(MAX_JSON_DEPTH)}.")
        except JsonRefused as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}.")
        return data
