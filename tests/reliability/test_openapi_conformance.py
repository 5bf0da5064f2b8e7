"""schemathesis against MUSES' own OpenAPI schema: generated requests to every operation
(valid and invalid by the schema) never get a 5xx, and every response matches what the
schema documents (status code, content type, body). Bounded and deterministic: a fixed
number of examples per operation, derandomized."""

import functools
import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES_PER_OPERATION = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def muses_schema() -> dict:
    raw = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(raw))


@functools.cache
def muses_application():
    return get_wsgi_application()


def lazy_application(environ, start_response):
    """MUSES' real WSGI application, made at the first request, once the test database is
    set up: one made at import holds on to the database as it was then."""
    return muses_application()(environ, start_response)


schema = schemathesis.openapi.from_dict(muses_schema())
schema.app = lazy_application


@pytest.fixture
def wsgi_app(token, trained_red):
    """The WSGI handler closes database connections after each request, which would end the
    test's transaction: Django's test client unhooks the same signal handlers (and hooks
    them again after each of its requests, so this comes after the fixtures that use it)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def jobs_of_every_kind(db):
    """One job of each kind, so /api/jobs answers rows of every shape the schema documents."""
    from custom_tagging.models import PredictionJob, TrainingJob
    from naive_classification.models import NaiveJob

    TrainingJob.objects.create(tag_name="red", state="error", error="Boom")
    PredictionJob.objects.create(tag_names=["red"])
    NaiveJob.objects.create(kind="naive_export", options={"exporter": "naive"})
    NaiveJob.objects.create(
        kind="naive_training",
        options={"model_name": "m1"},
        state="success",
        result={"model_path": "/models/m1.keras", "accuracy": 0.5},
    )


@pytest.fixture
def token(api, user) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.get(user=user).key  # the one the `api` client sends


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_generated_request_gets_a_5xx_or_an_undocumented_response(
    case, jobs_of_every_kind, wsgi_app, token
):
    response = case.call(headers={"Authorization": f"Token {token}"})
    case.validate_response(response, checks=CHECKS)
