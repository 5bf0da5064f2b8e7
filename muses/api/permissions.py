"""Who may call the API: a token (or session) unless the API is open, and no state change
started by another web site."""

from urllib.parse import urlsplit

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission

from muses.api.exceptions import CrossSiteRefused


class ApiOpenOrAuthenticated(BasePermission):
    """Token (or session) authentication, unless MUSES_API_OPEN is set — read per request,
    so the demo's tokenless seed snippets work and tests can switch it."""

    message = (
        "Authentication credentials were not provided: send 'Authorization: Token <key>' "
        "(the API is open without a token only when MUSES_API_OPEN=1)."
    )

    def has_permission(self, request, view) -> bool:
        if settings.MUSES_API_OPEN:
            return True
        return bool(request.user and request.user.is_authenticated)


class RefuseCrossSite(BasePermission):
    """A state change that another web site started in the curator's browser (a link, an
    <img>, a form) is refused: the browser marks such requests (Sec-Fetch-Site, Origin,
    Referer); scripts and the seed's clients send none of these headers and pass."""

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS and not getattr(view, "changes_state_on_get", False):
            return True
        reason = cross_site_reason(request)
        if reason is not None:
            raise CrossSiteRefused(
                f"Refusing a state change requested from another site ({reason}). "
                "Call the API from a script or from MUSES' own pages."
            )
        return True


def cross_site_reason(request) -> str | None:
    """Why the request comes from another site, or None when it does not (or the client
    is not a browser)."""
    origin = request.headers.get("Origin")
    if origin is not None:
        return None if _is_our_origin(request, origin) else f"Origin {origin[:100]!r}"
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        # same-site is a sibling host (another subdomain), which MUSES does not trust either.
        return None if site in ("same-origin", "none") else f"Sec-Fetch-Site: {site[:20]}"
    referer = request.headers.get("Referer")
    if referer is not None and not _is_our_origin(request, referer):
        return f"Referer from {urlsplit(referer).netloc[:100]!r}"
    return None


def _is_our_origin(request, url: str) -> bool:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return False  # "null" (sandboxed frames, file:) or garbage
    origin = f"{parts.scheme}://{parts.netloc}"
    return parts.netloc == request.get_host() or origin in settings.CSRF_TRUSTED_ORIGINS
