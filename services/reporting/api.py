"""Reporting's HTTP API: routes of a few lines over the use cases in handlers.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from contracts.common import Problem
from services.common.http.auth import Caller, out_of_scope, require
from services.common.http.edge import ApiError, not_found
from services.common.runtime import Runtime
from services.law.catalog import AgencyScope as Scope
from services.law.workdays import TZ
from services.product.roles import Permission as P
from services.reporting import exports
from services.reporting.handlers import Projection, request_scope
from services.reporting.views import stats_json, trace_json

router = APIRouter(prefix="/api/v1", tags=["reporting"])

Year = Annotated[int, Query(ge=2000, le=2100, description="năm / year")]
Quarter = Annotated[int, Query(ge=1, le=4, description="quý / quarter")]
AgencyQ = Annotated[str | None, Query(max_length=32, description="root agency of the report; "
                                      "the national (or configured) root by default")]
AsOf = Annotated[datetime | None, Query(description="answer as the event log stood then "
                                        "(events recorded at or before it), with time zone")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def visible_agency(scope: Scope, code: str) -> str:
    """`code`, if the catalogue knows it and this instance may show it (404, 403)."""
    if not scope.known(code):
        raise not_found(f"Không có đơn vị {code}", f"no agency {code}", "agency")
    if not scope.allows(code):
        raise ApiError(403, [Problem.of(
            "out_of_scope", f"Đơn vị {code} nằm ngoài phạm vi được xem",
            f"agency {code} is outside what this instance shows", "agency")])
    return code


def effective_scope(instance: Scope, caller: Caller) -> Scope:
    """The caller's tree within what this instance shows; 403 when they do not meet."""
    mine = caller.scope
    if mine.agency is None:
        return instance
    if instance.agency is None or instance.allows(mine.agency):
        return mine
    if mine.allows(instance.agency):
        return instance
    raise out_of_scope(caller.agency)


def _scoping(*, query_token: bool = False) -> Any:
    permitted = require(P.report_read, query_token=query_token)

    async def scoped(request: Request, caller: Caller = permitted) -> Caller:
        request_scope.set(effective_scope(request.app.state.projection.instance_scope, caller))
        return caller

    return scoped


# Every reporting route: report:read, and answers of the caller's agency tree only.
Reporting = Annotated[Caller, Depends(_scoping())]
# The same for the dashboard's event stream, whose token may come in the query.
ReportingStream = Annotated[Caller, Depends(_scoping(query_token=True))]


async def audited(request: Request, action: str, *, dossier_code: str | None = None,
                  target: str | None = None) -> None:
    """A read of figures (a report, a dossier's path) written in the audit trail, by the
    token's user, before it is answered."""
    rt: Runtime = request.app.state.runtime
    await rt.audit.read(request, action=action, dossier_code=dossier_code, target=target)


def _projection(request: Request) -> tuple[Runtime, Projection]:
    return request.app.state.runtime, request.app.state.projection


@router.get("/stats")
async def stats(request: Request, _: Reporting) -> dict[str, Any]:
    rt, projection = _projection(request)
    async with rt.sessions() as s:
        return stats_json(await projection.stats(s))


@router.get("/dossiers/{code}/trace")
async def trace(code: str, request: Request, _: Reporting) -> dict[str, Any]:
    rt, projection = _projection(request)
    async with rt.sessions() as s:
        events = await projection.trace(s, code)
    if not events:
        raise not_found(f"Chưa có sự kiện nào của hồ sơ {code}",
                        f"no events for dossier {code}")
    await audited(request, "dossier.trace", dossier_code=code)
    return {"dossier_code": code, "events": [trace_json(e) for e in events]}


async def _quarterly(request: Request, year: int, quarter: int, agency: str | None,
                     as_of: datetime | None, form: str = "json") -> dict[str, Any]:
    rt, projection = _projection(request)
    if as_of is not None and as_of.utcoffset() is None:
        raise ApiError(422, [Problem.of(
            "naive_time", "as_of phải có múi giờ (ví dụ +07:00)",
            "as_of needs a time zone offset (e.g. +07:00)", "as_of")])
    root = visible_agency(projection.scope, projection.scope.root(agency))
    async with rt.sessions() as s:
        report = await projection.quarterly(s, year, quarter, root, as_of)
    await audited(request, "report.quarterly", target=f"{year}-Q{quarter} {root} {form}"
                  + (f" as of {as_of.isoformat()}" if as_of else ""))
    return report


@router.get("/reports/quarterly")
async def quarterly(request: Request, _: Reporting, year: Year, quarter: Quarter,
                    agency: AgencyQ = None, as_of: AsOf = None) -> dict[str, Any]:
    return await _quarterly(request, year, quarter, agency, as_of)


def _download(body: bytes, media: str, report: dict[str, Any], ext: str) -> Response:
    name = f"bao-cao-quy-{report['period']['quarter']}-{report['period']['year']}-" \
           f"{report['agency']}.{ext}"
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _form_header(request: Request, report: dict[str, Any], as_of: datetime | None
                 ) -> exports.Header:
    """The form's unit, receiver, place and date: the figures' moment (as_of, or now)."""
    rt, projection = _projection(request)
    made = (as_of or rt.clock.now()).astimezone(TZ).date()
    return exports.header(report, projection.catalogs, made)


@router.get("/reports/quarterly.xlsx", response_class=Response)
async def quarterly_xlsx(request: Request, _: Reporting, year: Year, quarter: Quarter,
                         agency: AgencyQ = None, as_of: AsOf = None) -> Response:
    report = await _quarterly(request, year, quarter, agency, as_of, "xlsx")
    return _download(exports.xlsx(report, _form_header(request, report, as_of)), XLSX, report,
                     "xlsx")


@router.get("/reports/quarterly.pdf", response_class=Response)
async def quarterly_pdf(request: Request, _: Reporting, year: Year, quarter: Quarter,
                        agency: AgencyQ = None, as_of: AsOf = None) -> Response:
    report = await _quarterly(request, year, quarter, agency, as_of, "pdf")
    return _download(exports.pdf(report, _form_header(request, report, as_of)),
                     "application/pdf", report, "pdf")
