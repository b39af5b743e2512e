"""What officers and the applicant's counter read of a case, as use cases: each reads in its
own session, answers a case outside the caller's tree as not found, records a read of
personal data in the audit log before it is answered, and raises a domain error that the
HTTP edge answers (services/common/http.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.requests import Request

from contracts.common import Problem
from services.common.auth import Caller
from services.common.errors import Missing
from services.common.runtime import Runtime
from services.processing import domain, overdue
from services.processing.documents import letters, slip_pdf
from services.processing.documents.control_slip import ControlSlip
from services.processing.handlers import Cases, NotFound


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

    row: dict[str, Any]
    steps: list[dict[str, Any]]
    history: list[dict[str, Any]]
    applicant: dict[str, Any] | None


class CaseReads:
    def __init__(self, runtime: Runtime, cases: Cases) -> None:
        self.runtime = runtime
        self.cases = cases

    async def page(self, caller: Caller, *, agency: str | None, department: str | None,
                   officer: str | None, state: str | None,
                   after: tuple[datetime, str] | None, limit: int, deadline: str | None,
                   explained: bool | None) -> tuple[list[dict[str, Any]], bool]:
        """A page of the cases in the caller's tree (Cases.page), and whether more follow."""
        async with self.runtime.sessions() as s:
            return await self.cases.page(
                s, agency=agency, within=caller.agencies(), department=department,
                officer=officer, state=state, after=after, limit=limit, deadline=deadline,
                explained=explained)

    async def view(self, caller: Caller, code: str) -> dict[str, Any]:
        """The case as an officer sees it (Cases.view); NotFound outside the caller's tree."""
        async with self.runtime.sessions() as s:
            found = await self.cases.view(s, code, self.runtime.clock.now())
        if found is None or not caller.sees(found.get("agency_code")):
            raise NotFound(code)
        return found

    async def case_file(self, caller: Caller, code: str) -> CaseFile:
        """NotFound as well outside the caller's tree: another tree's case is not even
        confirmed."""
        async with self.runtime.sessions() as s:
            row, steps, history = await self.cases.documents_of(s, code)
            if not caller.sees(row.get("agency_code")):
                raise NotFound(code)
            applicant = await self.cases.repo.applicant(s, code)
        return CaseFile(row, steps, history, applicant)

    async def control_slip(self, caller: Caller, code: str) -> ControlSlip:
        """Phiếu kiểm soát quá trình giải quyết hồ sơ, as of now."""
        found = await self.case_file(caller, code)
        return self.cases.control_slip(found.row, found.steps, found.history,
                                       self.runtime.clock.now())

    async def control_slip_pdf(self, caller: Caller, code: str) -> bytes:
        found = await self.case_file(caller, code)
        return slip_pdf.control_slip_pdf(
            self.cases.control_slip(found.row, found.steps, found.history,
                                    self.runtime.clock.now()),
            self.cases.letterhead(found.row), procedure_name=self.cases.procedure_name(found.row))

    async def apology_pdf(self, request: Request | None, caller: Caller, code: str) -> bytes:
        """The apology letter as issued; NoApology before it is. A read of personal data:
        audited before it is answered."""
        found = await self.case_file(caller, code)
        event = overdue.apology_event(found.row)
        if event is None:
            raise NoApology(code)
        await self.runtime.audit.read(request, action="read.apology_pdf", dossier_code=code)
        return letters.apology_letter_pdf(
            self.cases.letterhead(found.row), event,
            procedure_name=self.cases.procedure_name(found.row),
            received_at=found.row["received_at"],
            applicant_name=domain.applicant_name(found.applicant))

    async def result(self, request: Request | None, caller: Caller, code: str) -> str | bytes:
        """The signed result's address once issued signed, else the result rendered unsigned
        (audited: personal data); NotDecided before the decision."""
        found = await self.case_file(caller, code)
        result = found.row.get("result") or {}
        if not result.get("decision"):
            raise NotDecided(code)
        if result.get("document_url"):
            return str(result["document_url"])
        await self.runtime.audit.read(request, action="read.result_pdf", dossier_code=code)
        return self.cases.result_pdf(found.row, found.applicant, signed=False)
