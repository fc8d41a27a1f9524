"""Every operation of the OpenAPI document, fuzzed as a customer, an agent and a manager: no
answer is a 5xx, and every answer is one the document promises (status code, content type,
body). `FUZZ_EXAMPLES` sets the cases per operation and role: 5 in `make test`, 200 in
`make fuzz`; derandomized, so a run repeats the one before."""

import json
import os

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from helpdesk.wsgi import application
from tests.fuzz.conftest import token_header

pytestmark = pytest.mark.fuzz


def served_document():
    """What /api/schema/ serves, made at collection time (no database needed), called on the
    WSGI application of this process (so on the test database)."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(document)))
    loaded.app = application
    return loaded


schema = served_document()

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


FUZZED = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "5")),
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def call_as(role: str, case, world) -> None:
    case.call_and_validate(headers={"Authorization": token_header(world[role])}, checks=CHECKS)


# One test per role: pytest-xdist runs them side by side.
@schema.parametrize()
@FUZZED
def test_as_a_customer(case, world):
    call_as("customer", case, world)


@schema.parametrize()
@FUZZED
def test_as_an_agent(case, world):
    call_as("agent", case, world)


@schema.parametrize()
@FUZZED
def test_as_a_manager(case, world):
    call_as("manager", case, world)
