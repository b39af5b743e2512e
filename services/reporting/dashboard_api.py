"""The dashboard's HTTP side: the page at `/`, its live stream (server-sent events), the
drill-down, a dossier's path, delay attribution, emulation figures, the Art. 30 evaluation
and ratings."""

from __future__ import annotations

import asyncio
import json
import pathlib
import time
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from contracts.common import Problem
from services.common.http.auth import Caller, require
from services.common.http.edge import ApiError, not_found
from services.common.runtime import Runtime
from services.law.workdays import TZ
from services.product.roles import Permission as P
from services.reporting.api import (
    Reporting,
    ReportingStream,
    audited,
    effective_scope,
    visible_agency,
)
from services.reporting.evaluation import Window
from services.reporting.handlers import request_scope
from services.reporting.monitoring import Monitor, Rated

STATIC = pathlib.Path(__file__).with_name("static")
router = APIRouter(tags=["dashboard"])
AgencyP = Annotated[str, Path(max_length=32)]


class Rating(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: int = Field(ge=1, le=5, description="1 (rất không hài lòng) … 5 (rất hài lòng)")
    comment: str = Field("", max_length=2000)


def _monitor(request: Request) -> tuple[Runtime, Monitor]:
    return request.app.state.runtime, request.app.state.monitor


def _agency(monitor: Monitor, agency: str) -> str:
    return visible_agency(monitor.scope, agency)


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


@router.get("/api/v1/dashboard")
async def snapshot(request: Request, _: Reporting) -> dict[str, Any]:
    rt, monitor = _monitor(request)
    async with rt.sessions() as s:
        return await monitor.snapshot(s, rt.clock.now())


@router.get("/api/v1/dashboard/stream", include_in_schema=False)
async def stream(request: Request, _: ReportingStream) -> StreamingResponse:
    """Server-sent events: a `snapshot` whenever the projection applied new events (checked
    every poll) and at least every push interval. A stream ends after a while and the
    browser reconnects at once (`retry`): the server never waits long on an open page
    when it stops. Its token may come as `access_token` in the query (an EventSource
    cannot send headers)."""
    rt, monitor = _monitor(request)
    poll = rt.settings.dashboard_poll_seconds  # type: ignore[attr-defined]
    push = rt.settings.dashboard_push_seconds  # type: ignore[attr-defined]
    ends = time.monotonic() + rt.settings.dashboard_stream_seconds  # type: ignore[attr-defined]

    async def events() -> AsyncIterator[str]:
        token, pushed = -1, 0.0
        yield f"retry: {int(poll * 1000)}\n\n"
        while time.monotonic() < ends and not await request.is_disconnected():
            async with rt.sessions() as s:
                now_token = await monitor.token(s)
                if now_token != token or time.monotonic() - pushed >= push:
                    body = await monitor.snapshot(s, rt.clock.now())
                    token, pushed = now_token, time.monotonic()
                    yield f"event: snapshot\ndata: {json.dumps(body, ensure_ascii=False)}\n\n"
            await asyncio.sleep(poll)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/api/v1/dashboard/agencies/{agency}/procedures")
async def procedures(agency: AgencyP, request: Request, _: Reporting) -> list[dict[str, Any]]:
    rt, monitor = _monitor(request)
    async with rt.sessions() as s:
        return await monitor.procedures(s, _agency(monitor, agency))


@router.get("/api/v1/dashboard/agencies/{agency}/dossiers")
async def dossiers(agency: AgencyP, request: Request, _: Reporting,
                   procedure: Annotated[str | None, Query(max_length=64)] = None
                   ) -> list[dict[str, Any]]:
    rt, monitor = _monitor(request)
    async with rt.sessions() as s:
        found = await monitor.dossiers(s, _agency(monitor, agency), procedure, rt.clock.now())
    await audited(request, "dashboard.dossiers", target=agency
                  + (f" {procedure}" if procedure else ""))
    return found


@router.get("/api/v1/dossiers/{code}/path")
async def path(code: str, request: Request, _: Reporting) -> dict[str, Any]:
    rt, monitor = _monitor(request)
    async with rt.sessions() as s:
        found = await monitor.path(s, code, rt.clock.now())
    if found is None:
        raise not_found(f"Không có hồ sơ {code}", f"no dossier {code}")
    await audited(request, "dossier.path", dossier_code=code)
    return found


@router.get("/api/v1/delays")
async def delays(request: Request, _: Reporting,
                 agency: Annotated[str | None, Query(max_length=32)] = None) -> dict[str, Any]:
    """Every late dossier with who held each of its late working days; per office, the
    overdue days it caused."""
    rt, monitor = _monitor(request)
    if agency:
        _agency(monitor, agency)
    async with rt.sessions() as s:
        found = await monitor.cached(s, ("delays", agency),
                                     lambda: monitor.delays(s, rt.clock.now(), agency))
    await audited(request, "report.delays", target=agency)
    return found


YearQ = Annotated[int | None, Query(ge=2000, le=2100, description="năm / year (with quarter)")]
QuarterQ = Annotated[int | None, Query(ge=1, le=4, description="quý / quarter: the quarterly "
                                        "report's period, from the 15th")]
FromQ = Annotated[date | None, Query(alias="from", description="từ ngày / first day "
                                     "(with to), 0:00 Asia/Ho_Chi_Minh")]
ToQ = Annotated[date | None, Query(alias="to", description="đến ngày / last day, until 24:00")]


def _period_problem(code: str, vi: str, en: str, field: str) -> ApiError:
    return ApiError(422, [Problem.of(code, vi, en, field)])


def period_window(year: int | None, quarter: int | None, first: date | None,
                  last: date | None) -> Window | None:
    """The period asked: a quarter (year and quarter) or days (from and to); None for
    neither; 422 for half of one, both, or days in the wrong order."""
    if (year is None) != (quarter is None):
        raise _period_problem("period_incomplete", "Cần cả năm và quý",
                              "give both year and quarter",
                              "quarter" if quarter is None else "year")
    if (first is None) != (last is None):
        raise _period_problem("period_incomplete", "Cần cả từ ngày và đến ngày",
                              "give both from and to", "to" if last is None else "from")
    if year is not None and first is not None:
        raise _period_problem("period_ambiguous", "Chọn quý hoặc khoảng ngày, không cả hai",
                              "give a quarter or days (from, to), not both", "from")
    if year is not None and quarter is not None:
        return Window.of_quarter(year, quarter)
    if first is not None and last is not None:
        if last < first:
            raise _period_problem("period_reversed", "Đến ngày phải không trước từ ngày",
                                  "to must not be before from", "to")
        return Window.of_days(first, last)
    return None


def _label(window: Window | None) -> str:
    return "all" if window is None else f"{window.first_day}..{window.last_day}"


@router.get("/api/v1/emulation")
async def emulation(request: Request, _: Reporting, year: YearQ = None,
                    quarter: QuarterQ = None, first: FromQ = None, last: ToQ = None
                    ) -> dict[str, Any]:
    """Thi đua: per officer, department and office, of all time or of a period (a quarter,
    or from and to)."""
    window = period_window(year, quarter, first, last)
    rt, monitor = _monitor(request)
    async with rt.sessions() as s:
        found = await monitor.cached(s, ("emulation", _label(window)),
                                     lambda: monitor.emulation(s, rt.clock.now(), window))
    await audited(request, "report.emulation", target=_label(window))
    return found


@router.get("/api/v1/evaluation")
async def evaluate(request: Request, _: Reporting, year: YearQ = None,
                   quarter: QuarterQ = None, first: FromQ = None, last: ToQ = None,
                   agency: Annotated[str | None, Query(max_length=32)] = None
                   ) -> dict[str, Any]:
    """Internal evaluation (Decree 61/2018 Art. 30) and satisfaction (Art. 31) of a period:
    the indices of every office, department and officer and their score by the rubric in
    force on the period's last day."""
    window = period_window(year, quarter, first, last)
    if window is None:
        raise _period_problem("period_required", "Cần kỳ đánh giá: năm và quý, hoặc từ ngày "
                              "và đến ngày", "give a period: year and quarter, or from and to",
                              "year")
    rt, monitor = _monitor(request)
    if agency:
        _agency(monitor, agency)
    async with rt.sessions() as s:
        found = await monitor.cached(
            s, ("evaluation", _label(window), agency),
            lambda: monitor.evaluation(s, rt.clock.now(), window, agency))
    await audited(request, "report.evaluation", target=_label(window)
                  + (f" {agency}" if agency else ""))
    return found


async def _rate(request: Request, caller: Caller, code: str, rating: Rating,
                origin: str) -> Rated:
    """One rating of `origin` in one transaction with its audit row; 404 / 409 answered."""
    request_scope.set(effective_scope(request.app.state.projection.instance_scope, caller))
    rt, monitor = _monitor(request)
    days = rt.settings.citizen_rating_change_days  # type: ignore[attr-defined]
    async with rt.transaction() as s:
        result = await monitor.rate(s, code, rating.score, rating.comment, rt.clock.now(),
                                    origin=origin, change_for=timedelta(days=days))
        if result is not None and result.outcome == "ok":
            await rt.audit.record(s, request, actor=None, action=f"dossier.rate.{origin}",
                                  dossier_code=code)
    if result is None:
        raise not_found(f"Không có hồ sơ {code}", f"no dossier {code}")
    if result.outcome == "not_returned":
        raise ApiError(409, [Problem.of(
            "not_returned", f"Hồ sơ {code} chưa trả kết quả, chưa thể đánh giá",
            f"dossier {code} has not been returned yet; it cannot be rated")])
    if result.outcome == "closed":
        until = result.changeable_until
        shown = until.astimezone(TZ).strftime("%H:%M %d/%m/%Y") if until else ""
        raise ApiError(409, [Problem.of(
            "rating_closed", f"Đã hết thời hạn sửa đánh giá (đến {shown})",
            f"the rating could be changed until {until.isoformat() if until else ''}",
            "score", changeable_until=until.isoformat() if until else None)])
    return result


@router.post("/api/v1/dossiers/{code}/rating")
async def rate(code: str, rating: Rating, request: Request,
               caller: Annotated[Caller, require(P.rating_record)]) -> dict[str, Any]:
    """The applicant's satisfaction with a returned dossier, recorded at the counter (a
    counter survey, `origin: counter_survey`) by the officer the token names; a new one
    replaces the earlier counter survey of the same dossier. A dossier of another agency
    tree is not found. Citizens rate on the public page (intake relays it here)."""
    result = await _rate(request, caller, code, rating, "counter_survey")
    return {"dossier_code": code, "score": rating.score, "comment": rating.comment,
            "origin": "counter_survey", "replaced": result.replaced}


def _citizen_view(code: str, score: int, comment: str, rated_at: datetime | None,
                  until: datetime | None, **extra: Any) -> dict[str, Any]:
    return {"dossier_code": code, "origin": "citizen", "score": score, "comment": comment,
            "rated_at": rated_at.astimezone(TZ).isoformat() if rated_at else None,
            "changeable_until": until.astimezone(TZ).isoformat() if until else None, **extra}


@router.put("/api/v1/dossiers/{code}/citizen-rating")
async def rate_as_citizen(code: str, rating: Rating, request: Request,
                          caller: Annotated[Caller, require(P.rating_citizen)]
                          ) -> dict[str, Any]:
    """A citizen's rating of their returned dossier (Art. 31), relayed by intake's public
    route once it checked the dossier code and the last four ID digits: one per dossier,
    changeable for REPORTING_CITIZEN_RATING_CHANGE_DAYS after the first (then 409
    rating_closed), 409 not_returned before the result is handed over."""
    result = await _rate(request, caller, code, rating, "citizen")
    return _citizen_view(code, rating.score, result.comment, result.rated_at,
                         result.changeable_until, replaced=result.replaced)


@router.get("/api/v1/dossiers/{code}/citizen-rating")
async def citizen_rating(code: str, request: Request,
                         caller: Annotated[Caller, require(P.rating_citizen)]
                         ) -> dict[str, Any]:
    """The citizen's standing rating of a dossier (404 when none), for the public page."""
    request_scope.set(effective_scope(request.app.state.projection.instance_scope, caller))
    rt, monitor = _monitor(request)
    async with rt.sessions() as s:
        found = await monitor.citizen_rating(s, code)
    if found is None:
        raise not_found(f"Hồ sơ {code} chưa được đánh giá", f"dossier {code} is not rated")
    return _citizen_view(code, found.score, found.comment, found.rated_at,
                         found.changeable_until)


@router.get("/api/v1/forecast")
async def breach_forecast(request: Request, _: Reporting) -> dict[str, Any]:
    """Open dossiers likely to miss their due time, from each office's queue and the step
    durations it has shown."""
    rt, monitor = _monitor(request)
    async with rt.sessions() as s:
        return await monitor.cached(s, ("forecast",),
                                    lambda: monitor.forecast(s, rt.clock.now()))
