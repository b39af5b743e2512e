"""The counter's use cases as the HTTP API calls them: each opens its transaction, writes its
audit row with its effect and raises domain errors (services/common/errors.py), answered
once by the HTTP edge; the routes (api.py) parse, authorize, call one and render it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from contracts.common import Problem, Reason
from services.common.auth import Caller, visible
from services.common.errors import Conflict
from services.common.idempotency import IdempotencyKeys
from services.common.runtime import Runtime
from services.intake.domain import NotFound, Submission, public_view
from services.intake.handlers import Intake
from services.intake.repository import DuplicateKey, Session
from services.intake.warehouse import Warehouse
from services.law.workdays import TZ


def local_times(view: Mapping[str, Any]) -> dict[str, Any]:
    """People read these: local time with its offset, the same on every answer."""
    return {k: v.astimezone(TZ).isoformat() if isinstance(v, datetime) else v
            for k, v in view.items()}


class Raced(Conflict):
    """Two requests with one submission_id raced and the first one's dossier cannot be seen
    yet: try again."""

    def __init__(self) -> None:
        super().__init__([Problem.of(
            "conflict", "Yêu cầu trùng với một yêu cầu đang được xử lý; vui lòng thử lại",
            "the request conflicted with another one; try again", "submission_id")])


@dataclass(frozen=True)
class Recorded:
    """A dossier received or refused; `new` false when the submission_id had already made
    it (answered again, 200, nothing recorded twice)."""

    row: dict[str, Any]
    new: bool


# A counter action on a recorded dossier, in the transaction it is given.
Act = Callable[[Intake, Session, datetime], Awaitable[dict[str, Any]]]
Record = Callable[[Session], Awaitable[dict[str, Any]]]


class Counter:
    """Receipt, refusal and the actions on a recorded dossier, each in one transaction with
    its audit row; `request` says who acted and from where (the audit row's actor and
    address), and carries an action's Idempotency-Key."""

    def __init__(self, runtime: Runtime, intake: Intake, warehouse: Warehouse,
                 keys: IdempotencyKeys) -> None:
        self.runtime = runtime
        self.intake = intake
        self.warehouse = warehouse
        self.keys = keys

    async def earlier(self, caller: Caller, submission_id: str | None
                      ) -> dict[str, Any] | None:
        """The dossier this submission_id already made, if the caller may see it."""
        if not submission_id:
            return None
        async with self.runtime.sessions() as s:
            found = visible(caller, await self.intake.existing(s, submission_id=submission_id))
        return dict(found) if found else None

    async def receive(self, request: Request, caller: Caller, sub: Submission,
                      now: datetime) -> Recorded:
        """Received (Rejected with every problem; WarehouseUnavailable when a reused
        component cannot be checked)."""
        if found := await self.earlier(caller, sub.submission_id):
            return Recorded(found, new=False)
        await self.intake.verify_reuse(self.warehouse, sub)
        return await self._record(request, caller, sub.submission_id, "dossier.receive",
                                  lambda s: self.intake.receive(s, sub, now))

    async def refuse(self, request: Request, caller: Caller, sub: Submission,
                     reasons: list[Reason], now: datetime) -> Recorded:
        """A refusal slip with reasons (Rejected when the refusal itself cannot stand)."""
        if found := await self.earlier(caller, sub.submission_id):
            return Recorded(found, new=False)
        return await self._record(request, caller, sub.submission_id, "dossier.refuse",
                                  lambda s: self.intake.refuse(s, sub, reasons, now))

    async def _record(self, request: Request, caller: Caller, submission_id: str | None,
                      action: str, record: Record) -> Recorded:
        try:
            async with self.runtime.transaction() as s:
                row = await record(s)
                await self.runtime.audit.record(s, request, actor=None, action=action,
                                                dossier_code=row["code"])
            return Recorded(row, new=True)
        except DuplicateKey:
            # Dropped unlogged, and answered outside this handler so nothing chains it: its
            # text holds the statement's parameters, the applicant's identity among them.
            pass
        # Two requests with one submission_id raced: the first one's dossier is the answer.
        if found := await self.earlier(caller, submission_id):
            return Recorded(found, new=False)
        raise Raced()

    async def change(self, request: Request, caller: Caller, code: str, act: Act, *,
                     status: int, action: str) -> JSONResponse:
        """A counter action in one transaction with its audit row (NotFound, WrongState,
        Rejected: nothing changed); with an Idempotency-Key header, a retry of the same
        request gets the first answer back and changes nothing."""
        key, where, replay = await self.keys.replay(request, self.runtime.sessions)
        if replay is not None:
            return replay
        async with self.runtime.transaction() as s:
            row = await act(self.intake, s, self.runtime.clock.now())
            if visible(caller, row) is None:
                raise NotFound(code)  # another tree's dossier: rolled back, not confirmed
            view = local_times(public_view(row))
            if "missing" in row:
                view["missing"] = row["missing"]
            if key:
                await self.keys.keep(s, key, where, status, view, self.runtime.clock.now())
            await self.runtime.audit.record(s, request, actor=None, action=action,
                                            dossier_code=code)
        return JSONResponse(view, status_code=status)
