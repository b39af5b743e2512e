"""The one error base. A use case raises a `DomainError` (or a service's subclass of one of
these) with its problems in both languages; the HTTP edge answers every one of them in one
place (services/common/http/edge.py), so no route maps exceptions itself. Pure: no I/O, no web
framework, so domain code raises these without knowing it is served over HTTP."""

from __future__ import annotations

from typing import Any, ClassVar

from contracts.common import Problem, Reason


class DomainError(Exception):
    """Something the caller asked cannot be done: what and why, as problems. `status` is the
    answer's class (404, 409, 422, 503...), a property of the kind of error, not of a route."""

    status: ClassVar[int] = 422

    def __init__(self, problems: list[Reason], *, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(problems)
        self.problems = problems
        self.headers = headers
        self.extra = extra  # facts the answer adds beside the problems (current_status)


class Invalid(DomainError):
    """The request breaks a rule: every problem listed (422)."""

    status = 422


class Missing(DomainError):
    """What the request names does not exist, or not in the caller's tree (404)."""

    status = 404


class Conflict(DomainError):
    """Not possible in the current state (409)."""

    status = 409


class Unavailable(DomainError):
    """A dependency (a source, the warehouse, a signer) is away: try again later (503)."""

    status = 503

    def __init__(self, problems: list[Reason], *, retry_after: int = 5, **extra: Any) -> None:
        super().__init__(problems, headers={"Retry-After": str(retry_after)}, **extra)


def missing(message_vi: str, message_en: str, field: str | None = None) -> Missing:
    """The one 404 of every service: what was not found, in both languages."""
    return Missing([Problem.of("not_found", message_vi, message_en, field)])
