"""Request guards that apply to every view."""

from django.http import JsonResponse


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
