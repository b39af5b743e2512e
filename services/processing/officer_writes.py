"""An officer's writes as use cases: each checks the case is in the caller's tree, opens its
one transaction, moves or amends the case (officer_actions.py), keeps the answer under the
request's Idempotency-Key and writes the audit row, or raises a domain error that the HTTP
edge answers (services/common/http/edge.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from contracts.common import Problem
from services.common.errors import Conflict
from services.common.http.auth import Caller
from services.common.http.idempotency import IdempotencyKeys
from services.common.runtime import Runtime
from services.law.workdays import TZ
from services.processing.case_documents import CaseDocuments
from services.processing.case_records import NotFound
from services.processing.officer_actions import OfficerActions
from services.processing.repository import DuplicateKey
from services.processing.workflow import Action

Work = Callable[[AsyncSession, datetime, Any], Awaitable[dict[str, Any]]]


class KeyRaced(Conflict):
    """Another request with the same Idempotency-Key committed first (409): try again, and
    the retry gets that first answer back."""

    def __init__(self) -> None:
        super().__init__([Problem.of(
            "conflict", "Yêu cầu trùng với một yêu cầu đang được xử lý; vui lòng thử lại",
            "the request raced another with the same Idempotency-Key; try again",
            "Idempotency-Key")])


@dataclass(frozen=True)
class Keyed:
    """The request's Idempotency-Key (None without one) and what it is keyed to (method and
    path): the answer is kept under it, in the write's transaction."""

    key: str | None
    request: str


def as_answer(value: Any) -> Any:
    """A case's facts as answered and kept: people read the times, so local time with its
    offset, the same on every answer."""
    if isinstance(value, datetime):
        return value.astimezone(TZ).isoformat()
    if isinstance(value, dict):
        return {k: as_answer(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_answer(v) for v in value]
    return value


class OfficerWrites:
    def __init__(self, runtime: Runtime, actions: OfficerActions, documents: CaseDocuments,
                 keys: IdempotencyKeys) -> None:
        self.runtime = runtime
        self.actions = actions
        self.documents = documents
        self.keys = keys

    async def act(self, request: Request | None, caller: Caller, keyed: Keyed, code: str,
                  action: Action, payload: dict[str, Any], officer: str | None
                  ) -> tuple[int, Any]:
        """An officer's action (OfficerActions.act); issue_result signs the result first,
        outside the transaction, holding no lock over HTTP."""

        async def sign() -> Any:
            if action != Action.issue_result:
                return None
            async with self.runtime.sessions() as s:
                return await self.documents.sign_result(s, code)

        return await self._write(
            request, caller, keyed, code, 200,
            lambda s, now, signed: self.actions.act(s, code, action, payload, officer, now,
                                                    signed),
            sign, action=f"case.{action.value}")

    async def explain(self, request: Request | None, caller: Caller, keyed: Keyed, code: str,
                      cause: str, by: str | None, officer: str) -> tuple[int, Any]:
        """The responsible office's explanation of an overdue dossier (OfficerActions.explain)."""
        return await self._write(
            request, caller, keyed, code, 201,
            lambda s, now, _: self.actions.explain(s, code, cause, by, officer, now),
            action="case.explain")

    async def apologise(self, request: Request | None, caller: Caller, keyed: Keyed,
                        code: str, *, reason: str, new_due_at: datetime,
                        department: str | None, signed_by: str) -> tuple[int, Any]:
        """The apology and re-appointment letter (OfficerActions.apologise)."""
        return await self._write(
            request, caller, keyed, code, 201,
            lambda s, now, _: self.actions.apologise(
                s, code, reason=reason, new_due_at=new_due_at, department=department,
                signed_by=signed_by, now=now),
            action="case.apology")

    async def _write(self, request: Request | None, caller: Caller, keyed: Keyed, code: str,
                     status: int, work: Work,
                     prepare: Callable[[], Awaitable[Any]] | None = None, *,
                     action: str) -> tuple[int, Any]:
        """(status, answer) of one write in one transaction with its audit row. `prepare`
        runs before the transaction; its result goes to `work`."""
        rt = self.runtime
        async with rt.sessions() as s:  # another tree's case is not even confirmed
            row = await self.actions.repo.case(s, code)
            if not caller.sees(row.agency_code if row else None):
                raise NotFound(code)
        prepared = await prepare() if prepare else None
        try:
            async with rt.transaction() as s:
                now = rt.clock.now()
                answer = as_answer(await work(s, now, prepared))
                if keyed.key:
                    await self.keys.keep(s, keyed.key, keyed.request, status, answer, now)
                await rt.audit.record(s, request, actor=None, action=action,
                                      dossier_code=code)
        except DuplicateKey:
            # Two requests with one key: the second's insert of the kept answer collides.
            raise KeyRaced() from None
        return status, answer
