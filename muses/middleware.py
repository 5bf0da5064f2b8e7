"""Request guards that apply to every view."""

import re

from django.http import JsonResponse

LEFT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


class RejectNulBytesMiddleware:
    """No identifier, tag name or parameter of MUSES may hold a NUL byte, and PostgreSQL
    text cannot store one: answer 400 before any view queries the database with it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any("\x00" in v for v in request.GET.values()):
            return JsonResponse(
                {"detail": "NUL bytes are not allowed in paths or query parameters."}, status=400
            )
        return self.get_response(request)


class RejectNonUtf8PathsMiddleware:
    """A path whose percent-escapes are not UTF-8 (``/custom/train/%FF``) is refused: Django
    keeps such an escape literally in the decoded path, so a client that encoded a tag in
    Latin-1 would silently create a tag named '%FF'. A decoded path cannot tell that apart
    from a literal '%FF' (sent as '%25FF'), so names cannot hold '%' and two hex digits."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        escape = LEFT_ESCAPE.search(request.path_info)
        if escape:
            return JsonResponse(
                {
                    "detail": f"The path holds {escape.group()!r}: a percent-escape that is "
                    "not UTF-8 (percent-encode names as UTF-8), or a literal '%' and two hex "
                    "digits, which no MUSES name may hold."
                },
                status=400,
            )
        return self.get_response(request)
