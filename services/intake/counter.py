"""The counter's use cases as the HTTP API calls them: each opens its transaction, writes its
audit row with its effect and raises domain errors (services/common/errors.py), answered
once by the HTTP edge; the routes (api.py) parse, authorize, call one and render it."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from contracts.common import Problem, Reason
from services.common.errors import Conflict
from services.common.http.auth import Caller
from services.common.http.idempotency import IdempotencyKeys
from services.common.persistence.sealed_columns import sealed_columns
from services.common.runtime import Runtime
from services.common.sealing import data_sealer
from services.intake import slip_views
from services.intake.domain import Change, NotFound, Submission
from services.intake.dossier import Dossier
from services.intake.handlers import Intake
from services.intake.repository import DuplicateKey, Session, dossier_values
from services.intake.tables import dossiers, metadata
from services.intake.views import public_view
from services.intake.warehouse import Warehouse
from services.law.catalog import CatalogIndex
from services.law.pseudonym import pseudonym
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

    dossier: Dossier
    new: bool


class NoSuchSlip(Conflict):
    """The dossier's status has no such slip (a receipt of a refused dossier...)."""

    def __init__(self, slip: str, current_status: str) -> None:
        super().__init__([Problem.of(
            "no_such_slip", f"Hồ sơ ở trạng thái {current_status} không có phiếu này",
            f"a {current_status} dossier has no {slip}", "slip")],
            current_status=current_status)


SLIPS: dict[str, tuple[frozenset[str], Callable[[CatalogIndex, dict[str, Any]], bytes], str]] = {
    # slip -> (states it exists in, renderer, file name stem)
    "receipt.pdf": (frozenset({"received", "awaiting_supplement", "withdrawn"}),
                    slip_views.receipt, "giay-tiep-nhan"),
    "supplement-request.pdf": (frozenset({"awaiting_supplement"}),
                               slip_views.supplement_request, "phieu-yeu-cau-bo-sung"),
    "refusal.pdf": (frozenset({"refused"}), slip_views.refusal, "phieu-tu-choi"),
}


@dataclass(frozen=True)
class Printed:
    """A slip drawn, and the name it is offered under."""

    pdf: bytes
    filename: str


def _id_tail(applicant: Mapping[str, object]) -> str:
    number = applicant.get("id_number") or applicant.get("unit_code") or ""
    return str(number)[-4:]


# A dossier row's sealed columns, as the decoy a lookup of an unknown code opens instead.
_DECOY_APPLICANT = {"kind": "individual", "full_name": "Nguyễn Văn Ẩn Danh",
                    "id_number": "000000000000", "birth_date": "1990-01-01"}
_decoy: tuple[object, dict[str, str]] | None = None


def _decoy_row() -> dict[str, Any]:
    """What opening a found row's sealed columns gives, done on sealed decoys: a lookup of
    an unknown code does the same work as one with wrong digits, so its time does not say
    whether the code exists. Sealed once per data key."""
    global _decoy
    sealer = data_sealer()
    names = sealed_columns(metadata).get(dossiers.name, [])
    if _decoy is None or _decoy[0] is not sealer:
        clear = {n: _DECOY_APPLICANT if n == "applicant" else "" for n in names}
        _decoy = sealer, {n: dossiers.c[n].type.process_bind_param(v, None)
                          for n, v in clear.items()}
    return {n: dossiers.c[n].type.process_result_value(_decoy[1][n], None) for n in names}


# A counter action on a recorded dossier, in the transaction it is given.
Act = Callable[[Intake, Session, datetime], Awaitable[Change]]
Record = Callable[[Session], Awaitable[Dossier]]


class Counter:
    """Receipt, refusal and the actions on a recorded dossier, each in one transaction with
    its audit row; the reads of a dossier, a page, a slip or a pseudonym (a read of personal
    data recorded first). `request` says who acted and from where (the audit row's actor
    and address), and carries an action's Idempotency-Key."""

    def __init__(self, runtime: Runtime, intake: Intake, warehouse: Warehouse,
                 keys: IdempotencyKeys) -> None:
        self.runtime = runtime
        self.intake = intake
        self.warehouse = warehouse
        self.keys = keys

    async def earlier(self, caller: Caller, submission_id: str | None) -> Dossier | None:
        """The dossier this submission_id already made, if the caller may see it."""
        if not submission_id:
            return None
        async with self.runtime.sessions() as s:
            found = await self.intake.existing(s, submission_id=submission_id)
        return found if found is not None and caller.sees(found.agency_code) else None

    async def dossier(self, caller: Caller, code: str) -> Dossier:
        """The dossier, if the caller may see it (else NotFound: not even confirmed)."""
        async with self.runtime.sessions() as s:
            found = await self.intake.existing(s, code=code)
        if found is None or not caller.sees(found.agency_code):
            raise NotFound(code)
        return found

    async def page(self, *, agency: str | None, status: str | None, channel: str | None,
                   from_: datetime | None, to: datetime | None,
                   after: tuple[datetime, str] | None, limit: int,
                   within: set[str] | None) -> tuple[list[Dossier], bool]:
        """A page of dossiers of the agencies `within` (None: all), and whether more follow."""
        async with self.runtime.sessions() as s:
            return await self.intake.page(s, agency=agency, status=status, channel=channel,
                                          from_=from_, to=to, after=after, limit=limit,
                                          within=within)

    async def receive(self, request: Request, caller: Caller, sub: Submission,
                      now: datetime) -> Recorded:
        """Received (Rejected with every problem; WarehouseUnavailable when a reused
        component cannot be checked)."""
        if found := await self.earlier(caller, sub.submission_id):
            return Recorded(found, new=False)
        # The rules first: a submission they refuse asks the warehouse nothing (a reference
        # it could not even look up answered 503, not the submission's own problems).
        verdict = self.intake.judge(sub, now)
        await self.intake.verify_reuse(self.warehouse, sub)
        return await self._record(request, caller, sub.submission_id, "dossier.receive",
                                  lambda s: self.intake.receive(s, sub, now, verdict))

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
                dossier = await record(s)
                await self.runtime.audit.record(s, request, actor=None, action=action,
                                                dossier_code=dossier.code)
            return Recorded(dossier, new=True)
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
            change = await act(self.intake, s, self.runtime.clock.now())
            if not caller.sees(change.dossier.agency_code):
                raise NotFound(code)  # another tree's dossier: rolled back, not confirmed
            view = local_times(public_view(change.dossier))
            if change.missing is not None:
                view["missing"] = change.missing
            if key:
                await self.keys.keep(s, key, where, status, view, self.runtime.clock.now())
            await self.runtime.audit.record(s, request, actor=None, action=action,
                                            dossier_code=code)
        return JSONResponse(view, status_code=status)

    async def slip(self, request: Request, caller: Caller, code: str, slip: str) -> Printed:
        """One of SLIPS, drawn with the catalogue the dossier was received under (its names,
        its components); NotFound, or NoSuchSlip in a status without it. Every slip prints
        the applicant's name, ID number and contacts: a read recorded before it is drawn."""
        dossier = await self.dossier(caller, code)
        states, render, stem = SLIPS[slip]
        if dossier.status not in states:
            raise NoSuchSlip(slip, dossier.status)
        await self.runtime.audit.read(request, action="read.slip", dossier_code=code,
                                      target=slip)
        catalog = self.intake.catalogs.version(dossier.catalog_version)
        return Printed(await asyncio.to_thread(render, catalog, dossier_values(dossier)),
                       f"{stem}-{code}.pdf")

    async def applicant_ref(self, request: Request, kind: str, number: str) -> str:
        """The applicant's pseudonym from the number typed at the counter: a read of
        personal data, recorded before it is answered."""
        await self.runtime.audit.read(request, action="read.applicant_ref", dossier_code=None)
        return pseudonym(self.intake.key, kind, number)

    async def public_match(self, code: str, id_last4: str) -> Dossier:
        """The dossier whose code and last four ID digits both match, else NotFound, with
        the same work whether the code exists or not (an unknown code opens a sealed
        decoy)."""
        async with self.runtime.sessions() as s:
            found = await self.intake.existing(s, code=code)
        applicant = found.applicant if found is not None else _decoy_row()["applicant"]
        matched = hmac.compare_digest(_id_tail(applicant).encode(), id_last4.encode())
        if found is None or not matched:
            raise NotFound(code)
        return found
