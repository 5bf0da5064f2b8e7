"""JSON read with bounds: nesting depth and finite numbers.

Python's json module recurses once per level: a body nested 100,000 deep raises
RecursionError (a 500 in a view, a traceback in an import). And '1e999999' parses as
infinity, which a string field then stores as "inf". Both are refused with a message.
"""

import json
import math

MAX_JSON_DEPTH = 100  # IIIF manifests nest about a dozen levels, API bodies fewer


class JsonRefused(ValueError):
    """Valid JSON that MUSES will not take; the message says why."""


def json_loads(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH):
    """json.loads, refusing documents nested deeper than max_depth and non-finite numbers
    (JsonRefused); a malformed document raises json.JSONDecodeError as usual."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonRefused(too_deep(max_depth)) from None
    json_check(value, max_depth=max_depth)
    return value


def json_check(value, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Walk a parsed document without recursion: JsonRefused when it nests deeper than
    max_depth or holds a non-finite number."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            raise JsonRefused(f"the number {node} is out of range (finite numbers only)")
        if isinstance(node, dict | list):
            if depth > max_depth:
                raise JsonRefused(too_deep(max_depth))
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)


def too_deep(max_depth: int) -> str:
    return f"the JSON is nested deeper than {max_depth} levels"
