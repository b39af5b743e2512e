"""A case's documents: the control slip, the letterhead its letters are printed under, the
result document and its signing before it is issued."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.common import Channel
from contracts.events import DossierResolved
from services.common.pdf import Letterhead
from services.processing import case_views
from services.processing.case_record import CaseRecord
from services.processing.case_records import CaseLaw, NotFound
from services.processing.documents import letters
from services.processing.documents.control_slip import (
    ControlSlip,
    build_control_slip,
    result_handed_at,
)
from services.processing.repository import ProcessingRepository
from services.processing.result_signer import ResultSigner, Signed
from services.processing.workflow import Action, State


class CaseDocuments:
    def __init__(self, law: CaseLaw, repository: ProcessingRepository | None = None,
                 signer: ResultSigner | None = None) -> None:
        self.law = law
        self.catalogs = law.catalogs
        self.repo = repository or ProcessingRepository()
        self.signer = signer

    async def documents_of(self, s: AsyncSession, code: str
                           ) -> tuple[CaseRecord, list[dict[str, Any]],
                                      list[dict[str, Any]]]:
        """A case with its steps and history, for its slip and letters; NotFound."""
        row = await self.repo.case(s, code)
        if row is None or row.received_at is None:
            raise NotFound(code)
        return row, await self.repo.steps(s, code), await self.repo.history(s, code)

    def control_slip(self, row: CaseRecord, steps: list[dict[str, Any]],
                     history: list[dict[str, Any]], now: datetime | None = None
                     ) -> ControlSlip:
        paper = row.channel == Channel.counter.value
        return build_control_slip(case_views.as_mapping(row), steps, self.law.calendar(row),
                                  paper=paper, result_at=result_handed_at(history), now=now)

    def letterhead(self, row: CaseRecord) -> Letterhead:
        version = self.catalogs.version(row.catalog_version or "")
        agency = version.agency(row.agency_code or "")
        parent = version.agency(agency.parent) if agency and agency.parent else None
        return Letterhead(agency.name if agency else row.agency_code or "",
                          parent.name if parent else None)

    def result_pdf(self, row: CaseRecord, applicant: dict[str, Any] | None,
                   signed: bool) -> bytes:
        """The result document from the decision kept on the case; `signed=False` prints
        the unsigned mark."""
        result = row.result or {}
        resolved = DossierResolved.model_validate(
            {k: v for k, v in result.items() if k in DossierResolved.model_fields})
        return letters.result_document_pdf(
            self.letterhead(row), resolved, procedure_name=self.procedure_name(row),
            received_at=row.received_at, signed=signed,
            applicant_name=case_views.applicant_name(applicant),
            result_type=result.get("result_type") or self._result_type(row))

    def _result_type(self, row: CaseRecord) -> str | None:
        procedure = self.law.procedure(row)
        return procedure.result_type if procedure else None

    async def sign_result(self, s: AsyncSession, code: str) -> Signed | None:
        """Before issuing: the decided case's result document signed by the signing
        service (outside the issuing transaction: no lock held over HTTP). None without a
        signer, or when the case is not decided (the action then answers why)."""
        if self.signer is None:
            return None
        row = await self.repo.case(s, code)
        if row is None or not (row.result or {}).get("decision") or \
                row.state not in (State.approved.value, State.denied.value):
            return None
        decided = [h for h in await self.repo.history(s, code)
                   if h["action"] in (Action.approve.value, Action.deny.value)]
        return await self.signer.sign(
            self.result_pdf(row, await self.repo.applicant(s, code), signed=True),
            dossier_code=code, agency_code=row.agency_code,
            decided_by=decided[-1]["officer"] if decided else None)

    def procedure_name(self, row: CaseRecord) -> str:
        procedure = self.law.procedure(row)
        return procedure.name if procedure else row.procedure_code or ""
