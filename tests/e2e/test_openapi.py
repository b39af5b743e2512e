"""Every HTTP answer of every service matches its own OpenAPI document.

Schemathesis generates requests from each service's /openapi.json, valid ones and invalid
ones, against the whole stack running as separate processes, and checks that no answer is a
5xx and that every status code, content type and body is the one documented (the 4xx body
included). Seeded and bounded, so a run is repeatable and takes a few minutes at most.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from contracts.topics import SERVICES
from deploy.local.stack import Stack
from tests.auth import bearer, role_for

pytestmark = pytest.mark.e2e

SEED = 20260302
MAX_EXAMPLES = 25  # per operation and generation mode
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
SETTINGS = settings(
    max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=False,
    # No shrinking: a failure is reported as the request that found it, within bounded time.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck), print_blob=False)


def _exercise(operation: Any, mode: GenerationMode, base_url: str,
              session: requests.Session) -> Callable[[], None]:
    # Called as a role that holds the operation's documented permission (the whole tree).
    wanted = operation.definition.raw.get("x-permissions")
    headers = bearer(role_for(wanted[0])) if wanted else {}

    @seed(SEED)
    @SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        case.call_and_validate(base_url=base_url, session=session, checks=CHECKS, timeout=30,
                               headers=headers)

    return run


@pytest.mark.parametrize("service", SERVICES)
def test_every_answer_matches_the_openapi_document(stack: Stack, service: str) -> None:
    base_url = stack.services[service].url
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        operations.append(result.ok())  # an operation schemathesis cannot read fails here
    assert operations, f"{service} documents no operation"

    failures: list[str] = []
    unsatisfiable: list[str] = []
    with requests.Session() as session:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                name = f"{operation.method.upper()} {operation.path} [{mode.value}]"
                try:
                    _exercise(operation, mode, base_url, session)()
                except Unsatisfiable:
                    # Nothing invalid can be built for it (e.g. no parameters at all). Only
                    # allowed for negative generation: every operation is run with valid data.
                    if mode is GenerationMode.POSITIVE:
                        failures.append(f"{name}: no valid request could be generated")
                    unsatisfiable.append(name)
                except (Exception, BaseExceptionGroup) as exc:  # failures are groups: all reported
                    detail = "".join(traceback.format_exception_only(exc)).strip()
                    failures.append(f"{name}:\n{detail[:4000]}")
    if unsatisfiable:
        print(f"{service}: no invalid request possible for: {', '.join(unsatisfiable)}")
    assert not failures, f"{service}: {len(failures)} operations failed\n\n" + "\n\n".join(
        failures)
