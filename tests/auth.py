"""Tests call the services as the people the scenario names, with real tokens.

`AsNeeded` signs each request with a development token for a role that holds the
permission the route asks for: it starts as a counter officer and, when a 403 names the
missing permission, retries once as the first role that has it. The user is the officer the
body names (`officer`, `requested_by`), so a scenario's officers act under their own names,
as the token-bound routes demand. A request that carries its own Authorization is sent
as it is (the tests of 401 and 403)."""

from __future__ import annotations

import json
from collections.abc import Generator

import httpx

from services.common.http.auth import NATIONAL, issue_token
from services.product.roles import ROLE_PERMISSIONS, Permission, Role

PREFERENCE = (Role.counter_officer, Role.processing_officer, Role.department_head,
              Role.office_leader, Role.national_monitor, Role.ops, Role.internal_service,
              Role.provincial_system)


def role_for(permission: str) -> Role:
    wanted = Permission(permission)
    return next(r for r in PREFERENCE if wanted in ROLE_PERMISSIONS[r])


def bearer(role: Role | str, user: str | None = None, agency: str | None = NATIONAL
           ) -> dict[str, str]:
    """A token of `role`, the whole country's unless an agency is given."""
    return {"Authorization": f"Bearer {issue_token(role, user=user, agency=agency)}"}


def _actor(request: httpx.Request) -> str | None:
    if not request.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        body = json.loads(request.content or b"null")
    except (ValueError, RecursionError):  # the hostile bodies of the hardening tests
        return None
    if isinstance(body, dict):
        for key in ("officer", "requested_by"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key]
    return None


class AsNeeded(httpx.Auth):
    requires_request_body = True
    requires_response_body = True  # the 403's body names the permission to retry with

    def __init__(self, agency: str = NATIONAL) -> None:
        self.agency = agency
        self._learned: dict[tuple[str, str], Role] = {}

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "authorization" in request.headers or "x-api-key" in request.headers:
            yield request
            return
        where = (request.method, request.url.path)
        user = _actor(request)
        role = self._learned.get(where, Role.counter_officer)
        request.headers.update(bearer(role, user, self.agency))
        response = yield request
        if response.status_code != 403:
            return
        try:
            missing = response.json().get("missing_permission")
        except ValueError:
            return
        if not missing:
            return
        role = self._learned[where] = role_for(missing)
        request.headers.update(bearer(role, user, self.agency))
        yield request


AUTH = AsNeeded()
