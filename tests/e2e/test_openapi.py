"""Every HTTP answer of every service matches its own OpenAPI document.

Schemathesis generates requests from each service's /openapi.json, valid ones and invalid
ones, against the whole stack running as separate processes, and checks that no answer is a
5xx and that every status code, content type and body is the one documented (the 4xx body
included). Each operation is run as every role that holds one of its documented
permissions (`x-permissions`), each with the whole country's token: what one role's
answers would not reach (another role's branch, its scope) is reached too. Seeded and
bounded (fewer examples per role when several share an operation), so a run is
repeatable and takes a few minutes at most.
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
from services.common.settings import DEV_SERVICE_KEY
from services.product.roles import ROLE_PERMISSIONS, Permission, Role
from tests.auth import bearer

pytestmark = pytest.mark.e2e

SEED = 20260302
MAX_EXAMPLES = 25  # per operation and generation mode, shared by the roles that run it
MIN_EXAMPLES = 6  # per role, however many share an operation
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples, deadline=None, database=None, derandomize=False,
        # No shrinking: a failure is reported as the request that found it, in bounded time.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck), print_blob=False)


def roles_for(operation: Any) -> list[Role | None]:
    """Every role holding one of the operation's permissions (None: a public route)."""
    wanted = {Permission(p) for p in operation.definition.raw.get("x-permissions") or ()}
    if not wanted:
        return [None]
    return [r for r in Role if wanted & ROLE_PERMISSIONS[r]]


def credential(role: Role | None) -> dict[str, str]:
    # Systems call with API keys; the stack's services know only the internal one.
    if role is Role.internal_service:
        return {"X-API-Key": DEV_SERVICE_KEY}
    if role is Role.provincial_system:
        return bearer(role)  # no province key configured here: a token of the role
    return bearer(role) if role else {}


def _exercise(operation: Any, mode: GenerationMode, base_url: str,
              session: requests.Session, role: Role | None,
              examples: int) -> Callable[[], None]:
    headers = credential(role)

    @seed(SEED)
    @_settings(examples)
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
            roles = roles_for(operation)
            examples = max(MIN_EXAMPLES, MAX_EXAMPLES // len(roles))
            for role, mode in ((r, m) for r in roles
                               for m in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)):
                name = (f"{operation.method.upper()} {operation.path} as {role or 'anyone'} "
                        f"[{mode.value}]")
                try:
                    _exercise(operation, mode, base_url, session, role, examples)()
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
