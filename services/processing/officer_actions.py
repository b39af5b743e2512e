"""An officer's actions on a locked case, in the caller's transaction: a move of the
workflow (act), or a record beside it that leaves its state alone (the explanation of a
late dossier, the apology letter). officer_writes.py opens the transaction around them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import Event
from services.processing import case_views, domain, overdue, provincial
from services.processing.case_record import CaseChanges, CaseRecord
from services.processing.case_records import CaseRecorder, NotFound, NotNow, Touched, decide
from services.processing.result_signer import Signed
from services.processing.workflow import Action, State, WrongState


class OfficerActions:
    def __init__(self, recorder: CaseRecorder,
                 apologies: overdue.ApologyPolicy | None = None,
                 verify_url: str = "", supplement_within_days: int = 3) -> None:
        self.recorder = recorder
        self.law = recorder.law
        self.outbox = recorder.outbox
        self.repo = recorder.repo
        self.apologies = apologies or overdue.ApologyPolicy()
        # The result's public verification link; "{document_ref}" is replaced. With a
        # signer, the signing service's own link replaces it.
        self.verify_url = verify_url
        self.supplement_within_days = supplement_within_days

    async def act(self, s: AsyncSession, code: str, action: Action,
                  payload: dict[str, Any], officer: str | None, now: datetime,
                  signed: Signed | None = None) -> dict[str, Any]:
        """An officer's action: NotFound (404), NotNow (409) or Unfit (422), else the
        case moved, written with its history row and events in the caller's transaction."""
        touched = Touched(await self.repo.cases(s, [code], lock=True))
        row = touched.rows.get(code)
        if row is None:
            raise NotFound(code)
        procedure = self.law.procedure(row)
        if procedure is None or provincial.is_provincial(row):
            # Known only from digitization so far, or processed in a province's software.
            raise NotNow(WrongState(State(row.state), []))
        if action == Action.issue_result and signed is not None:
            payload = payload | {"document_ref": signed.document_id,
                                 "verification_url": signed.verification_url}
        elif action == Action.issue_result:
            ref = payload.get("document_ref") or domain.result_document_ref(code, now)
            payload = payload | {"document_ref": ref, "verification_url":
                                 self.verify_url.format(document_ref=ref) if isinstance(
                                     ref, str) else None}
        found = domain.supplement_window(row, self.law.calendar(row), now,
                                         self.supplement_within_days) \
            if action == Action.request_supplement else []
        done = decide(domain.to_case(row, procedure), action, payload, now, officer, found)
        moved = await self.recorder.record(s, touched, row, action, done, now)
        if signed is not None and moved.result is not row.result:
            moved = moved.changed({"result": (moved.result or {}) | {
                "document_url": signed.url, "signed": True}})
        touched.put(moved)
        await self.recorder.write(s, touched)
        return case_views.action_answer(row, done)

    # --- a late dossier: the explanation and the apology letter ------------------------------

    async def explain(self, s: AsyncSession, code: str, cause: str, by: str | None,
                      officer: str | None, now: datetime) -> dict[str, Any]:
        """The responsible office's explanation of an overdue dossier (OverdueExplained);
        NotFound, or overdue.NotLate when there is nothing to explain."""
        row = await self._locked(s, code)
        values, event = overdue.explain(row, by or row.agency_code or "", cause,
                                        officer, now)
        return await self._amend(s, row, values, event)

    async def apologise(self, s: AsyncSession, code: str, *, reason: str,
                        new_due_at: datetime, department: str | None, signed_by: str,
                        now: datetime) -> dict[str, Any]:
        """The apology and re-appointment letter (ApologyIssued); overdue.Refused when it
        is repeated, overdue.NotLater when its date is not later, NotNow once the dossier
        is resolved."""
        row = await self._locked(s, code)
        if row.state in domain.RESOLVED or row.state == domain.WAITING:
            raise NotNow(WrongState(State(row.state), []))
        values, event = overdue.apologise(
            row, self.law.calendar(row), reason=reason, new_due_at=new_due_at,
            department=department, signed_by=signed_by, now=now, policy=self.apologies)
        return await self._amend(s, row, values, event)

    async def _locked(self, s: AsyncSession, code: str) -> CaseRecord:
        row = (await self.repo.cases(s, [code], lock=True)).get(code)
        if row is None or row.received_at is None:
            raise NotFound(code)
        return row

    async def _amend(self, s: AsyncSession, row: CaseRecord, values: CaseChanges,
                     event: Event) -> dict[str, Any]:
        """A record beside the workflow (its state does not move): the row's new values
        and the event, in the caller's transaction."""
        for topic in domain.topics_for(event):
            await self.outbox.emit(s, topic, event, row.agency_code or "")
        await self.repo.write_cases(s, [row.changed(values)])
        letter = values.get("apology")
        return {"dossier_code": row.code, "event": type(event).__name__,
                **event.model_dump(exclude={"dossier_code"})} | (
            {"in_time": letter["in_time"]} if isinstance(letter, dict) else {})
