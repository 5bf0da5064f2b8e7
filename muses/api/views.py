"""The base views of every API: permissions, parsers and throttles by kind of operation."""

from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from muses.api.parsers import BoundedJSONParser
from muses.api.permissions import ApiOpenOrAuthenticated, RefuseCrossSite
from muses.roles import HasRole


class BaseApi(APIView):
    permission_classes = [RefuseCrossSite, ApiOpenOrAuthenticated, HasRole]
    parser_classes = [BoundedJSONParser, FormParser, MultiPartParser]


SESSION_GET_DETAIL = (
    "A session cookie does not authorise a state change through GET (any web page could "
    "make the browser send it): send 'Authorization: Token <key>', or POST with the CSRF token."
)


class StateChangingGetApi(BaseApi):
    """The seed's /custom/assign, /custom/train and /custom/delete change state through GET,
    which browsers send cross-site freely (links, images) with the session cookie attached.
    Their GET is refused cross-site and authenticated by token only; POST keeps the session
    with Django's CSRF check."""

    changes_state_on_get = True

    def get_authenticators(self):
        authenticators = super().get_authenticators()
        # self.request is still Django's request here (set by View.setup before dispatch).
        if getattr(self.request, "method", None) != "GET":
            return authenticators
        return [a for a in authenticators if not isinstance(a, SessionAuthentication)]

    def permission_denied(self, request, message=None, code=None):
        if request.method == "GET" and settings.SESSION_COOKIE_NAME in request.COOKIES:
            raise exceptions.NotAuthenticated(SESSION_GET_DETAIL)
        super().permission_denied(request, message=message, code=code)


class UploadApi(BaseApi):
    parser_classes = [MultiPartParser, FormParser]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "uploads"


class PredictionApi(BaseApi):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "predictions"


class PredictionUploadApi(UploadApi):
    throttle_scope = "predictions"
