"""What officers and the applicant's counter read of a case, as use cases: each reads in its
own session, answers a case outside the caller's tree as not found, records a read of
personal data in the audit log before it is answered, and raises a domain error that the
HTTP edge answers (services/common/http/edge.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from contracts.common import Problem
from services.common.errors import Missing
from services.common.http.auth import Caller
from services.common.runtime import Runtime
from services.processing import case_views, domain, overdue, provincial
from services.processing.case_documents import CaseDocuments
from services.processing.case_record import CaseRecord
from services.processing.case_records import CaseLaw, NotFound
from services.processing.documents import letters, slip_pdf
from services.processing.documents.control_slip import ControlSlip
from services.processing.repository import ProcessingRepository
from services.processing.workflow import Action, Case, allowed_actions


class NoApology(Missing):
    """No apology letter was issued for the case (404)."""

    def __init__(self, code: str) -> None:
        super().__init__([Problem.of("not_found", f"Hồ sơ {code} chưa có văn bản xin lỗi",
                                     f"no apology letter for case {code}", "code")])


class NotDecided(Missing):
    """The case has no decision yet, so no result document (404)."""

    def __init__(self, code: str) -> None:
        super().__init__([Problem.of("not_found", f"Hồ sơ {code} chưa có quyết định",
                                     f"case {code} is not decided", "code")])


@dataclass(frozen=True)
class CaseFile:
    """A case with its steps, history and applicant: what its documents print."""

    row: CaseRecord
    steps: list[dict[str, Any]]
    history: list[dict[str, Any]]
    applicant: dict[str, Any] | None


class CaseReads:
    def __init__(self, runtime: Runtime, law: CaseLaw, repository: ProcessingRepository,
                 documents: CaseDocuments) -> None:
        self.runtime = runtime
        self.law = law
        self.repo = repository
        self.documents = documents

    async def page(self, caller: Caller, *, agency: str | None, department: str | None,
                   officer: str | None, state: str | None,
                   after: tuple[datetime, str] | None, limit: int, deadline: str | None,
                   explained: bool | None) -> tuple[list[dict[str, Any]], bool]:
        """A page of the cases in the caller's tree, and whether more follow (one row more
        is asked to tell)."""
        # `agency`'s subtree, and of the agencies the caller sees (None for all).
        agencies = None if agency is None else domain.sub_agencies(self.law.catalogs.indexes,
                                                                   agency)
        within = caller.agencies()
        if within is not None:
            agencies = within if agencies is None else agencies & within
        async with self.runtime.sessions() as s:
            rows = await self.repo.page(s, agencies=agencies, department=department,
                                        officer=officer, state=state, deadline=deadline,
                                        explained=explained, after=after,
                                        limit=limit + 1)
        return [case_views.summary(r) for r in rows[:limit]], len(rows) > limit

    async def view(self, caller: Caller, code: str) -> dict[str, Any]:
        """The case as an officer sees it; NotFound outside the caller's tree."""
        async with self.runtime.sessions() as s:
            found = await self._view(s, code, self.runtime.clock.now())
        if found is None or not caller.sees(found.get("agency_code")):
            raise NotFound(code)
        return found

    async def _view(self, s: AsyncSession, code: str, now: datetime
                    ) -> dict[str, Any] | None:
        row = await self.repo.case(s, code)
        if row is None:
            return None
        case = self.law.case(row)
        clock = domain.clock_state(row, self.law.calendar(row)) if case else None
        return case_views.view(row, case, clock, self._allowed(row, case),
                               await self.repo.history(s, code),
                               await self.repo.steps(s, code), now)

    @staticmethod
    def _allowed(row: CaseRecord, case: Case | None) -> list[Action]:
        return allowed_actions(case) if case and not provincial.is_provincial(row) else []

    async def case_file(self, caller: Caller, code: str) -> CaseFile:
        """NotFound as well outside the caller's tree: another tree's case is not even
        confirmed."""
        async with self.runtime.sessions() as s:
            row, steps, history = await self.documents.documents_of(s, code)
            if not caller.sees(row.agency_code):
                raise NotFound(code)
            applicant = await self.repo.applicant(s, code)
        return CaseFile(row, steps, history, applicant)

    async def control_slip(self, caller: Caller, code: str) -> ControlSlip:
        """Phiếu kiểm soát quá trình giải quyết hồ sơ, as of now."""
        found = await self.case_file(caller, code)
        return self.documents.control_slip(found.row, found.steps, found.history,
                                           self.runtime.clock.now())

    async def control_slip_pdf(self, caller: Caller, code: str) -> bytes:
        found = await self.case_file(caller, code)
        return slip_pdf.control_slip_pdf(
            self.documents.control_slip(found.row, found.steps, found.history,
                                        self.runtime.clock.now()),
            self.documents.letterhead(found.row),
            procedure_name=self.documents.procedure_name(found.row))

    async def apology_pdf(self, request: Request | None, caller: Caller, code: str) -> bytes:
        """The apology letter as issued; NoApology before it is. A read of personal data:
        audited before it is answered."""
        found = await self.case_file(caller, code)
        event = overdue.apology_event(found.row)
        if event is None:
            raise NoApology(code)
        await self.runtime.audit.read(request, action="read.apology_pdf", dossier_code=code)
        return letters.apology_letter_pdf(
            self.documents.letterhead(found.row), event,
            procedure_name=self.documents.procedure_name(found.row),
            received_at=found.row.received_at,
            applicant_name=case_views.applicant_name(found.applicant))

    async def result(self, request: Request | None, caller: Caller, code: str) -> str | bytes:
        """The signed result's address once issued signed, else the result rendered unsigned
        (audited: personal data); NotDecided before the decision."""
        found = await self.case_file(caller, code)
        result = found.row.result or {}
        if not result.get("decision"):
            raise NotDecided(code)
        if result.get("document_url"):
            return str(result["document_url"])
        await self.runtime.audit.read(request, action="read.result_pdf", dossier_code=code)
        return self.documents.result_pdf(found.row, found.applicant, signed=False)
