"""What the citizens' page shows of one dossier, and where it reads it.

Intake knows the receipt; processing knows the path, the decision, the signed result and
its return (its case view, `GET /api/v1/cases/{code}`); reporting keeps the ratings. The
public routes (api.py) check the dossier code and the last four ID digits first, then ask
the two services as the internal service (INTAKE_PROCESSING_URL, INTAKE_REPORTING_URL).
The answer names no officer and carries no officer's note: only stages, departments,
times and the result's verification link.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from contracts.catalog import Procedure
from contracts.common import Problem, Reason
from services.common.errors import Conflict, DomainError, Unavailable
from services.intake.settings import IntakeSettings
from services.law.catalog import CatalogIndex
from services.law.workdays import TZ

# Where a dossier stands, in the words of a notice to the applicant.
STAGE_VI = {
    "received": "Đã tiếp nhận, đang chuyển giải quyết",
    "processing": "Đang giải quyết",
    "awaiting_supplement": "Cần bổ sung hồ sơ: mời ông/bà bổ sung theo phiếu yêu cầu",
    "waiting_agency": "Đang chờ cơ quan khác phối hợp giải quyết",
    "deciding": "Đang trình lãnh đạo phê duyệt",
    "approved": "Đã được phê duyệt, đang phát hành kết quả",
    "result_ready": "Đã có kết quả, chờ trả cho ông/bà",
    "denied": "Không giải quyết: có văn bản trả lời nêu rõ lý do",
    "returned": "Đã trả kết quả",
    "refused": "Không tiếp nhận: có phiếu từ chối nêu rõ lý do",
    "withdrawn": "Đã rút hồ sơ theo đề nghị",
}
RETURN_VI = {
    "counter": "Nhận trực tiếp tại Bộ phận một cửa",
    "postal": "Gửi qua dịch vụ bưu chính công ích",
    "online": "Nhận trên Cổng dịch vụ công",
}
# The processing case's state -> the stage told to the applicant.
_CASE_STAGE = {
    "waiting": "received", "in_step": "processing", "waiting_supplement": "awaiting_supplement",
    "waiting_agency": "waiting_agency", "deciding": "deciding", "approved": "approved",
    "denied": "denied", "stopped": "denied", "result_issued": "result_ready",
    "returned": "returned", "withdrawn": "withdrawn",
}
# Intake's own status (a province's dossier is followed through its reports).
_INTAKE_STAGE = {
    "received": "received", "processing": "processing",
    "awaiting_supplement": "awaiting_supplement", "resolved": "result_ready",
    "denied": "denied", "returned": "returned", "refused": "refused", "withdrawn": "withdrawn",
}
# History actions of the case that the applicant's path shows, with their words.
_MILESTONES = {
    "request_supplement": "Yêu cầu bổ sung hồ sơ",
    "supplement_received": "Nhận hồ sơ bổ sung",
    "ask_agency": "Gửi cơ quan khác phối hợp",
    "record_agency_answer": "Cơ quan phối hợp đã trả lời",
    "approve": "Lãnh đạo phê duyệt",
    "deny": "Lãnh đạo quyết định không giải quyết",
    "stop": "Dừng giải quyết",
    "issue_result": "Phát hành kết quả (ký số)",
    "record_return": "Trả kết quả",
}
# Intake statuses that close a dossier before processing has anything to say.
_CLOSED_AT_INTAKE = frozenset({"refused", "withdrawn"})


def _local(at: datetime | str | None) -> str | None:
    # Processing answers local ISO times already; intake's rows hold datetimes.
    return at.astimezone(TZ).isoformat() if isinstance(at, datetime) else at


def stage(row: dict[str, Any], case: dict[str, Any] | None) -> str:
    if row["status"] in _CLOSED_AT_INTAKE or row["status"] == "awaiting_supplement":
        return _INTAKE_STAGE[row["status"]]
    if case is not None and case.get("state") in _CASE_STAGE:
        return _CASE_STAGE[case["state"]]
    return _INTAKE_STAGE.get(row["status"], "received")


def _steps(procedure: Procedure | None, case: dict[str, Any]) -> list[dict[str, Any]]:
    """One line per step of the procedure: when it started and finished, or still ahead."""
    held: dict[int, dict[str, Any]] = {}
    for s in case.get("steps") or []:
        first = held.setdefault(s["step_no"], {"from": s["assigned_at"], "to": None})
        first["to"] = s["completed_at"] or first["to"]
    specs = list(procedure.steps) if procedure else []
    current = case.get("current_step")
    lines = []
    for no, spec in enumerate(specs, start=1):
        times = held.get(no, {})
        done = times.get("to") is not None and not (no == current
                                                    and case.get("state") == "in_step")
        lines.append({"kind": "step", "step_no": no,
                      "label_vi": f"Bước {no}: {spec.name}", "department": spec.department,
                      "at": times.get("from"), "completed_at": times.get("to") if done else None,
                      "state": "done" if done else "current" if times else "ahead"})
    return lines


def path(row: dict[str, Any], case: dict[str, Any] | None,
         procedure: Procedure | None) -> list[dict[str, Any]]:
    """The dossier's path as the applicant reads it, in time order, steps ahead last."""
    lines: list[dict[str, Any]] = [{"kind": "received", "label_vi": "Tiếp nhận hồ sơ",
                                    "at": _local(row["received_at"]), "state": "done"}]
    if case is not None:
        lines += [{"kind": h["action"], "label_vi": _MILESTONES[h["action"]], "at": h["at"],
                   "state": "done"}
                  for h in case.get("history") or [] if h.get("action") in _MILESTONES]
        steps = _steps(procedure, case)
        lines += [s for s in steps if s["state"] != "ahead"]
        lines.sort(key=lambda line: str(line["at"] or ""))
        lines += [s for s in steps if s["state"] == "ahead"]
    elif row["status"] in _CLOSED_AT_INTAKE:
        lines.append({"kind": row["status"], "label_vi": STAGE_VI[row["status"]],
                      "at": _local(row.get("status_at") or row["received_at"]),
                      "state": "done"})
    return lines


def result(row: dict[str, Any], case: dict[str, Any] | None, at_stage: str) -> dict[str, Any]:
    kept = (case or {}).get("result") or {}
    returned = kept.get("returned") or {}
    channel = returned.get("return_channel") or (case or {}).get("return_channel") \
        or row["return_channel"]
    return {"ready": at_stage in ("result_ready", "denied", "returned"),
            "decision": kept.get("decision"),
            "return_channel": channel, "return_channel_vi": RETURN_VI.get(channel, channel),
            "returned_at": returned.get("returned_at"),
            # The link printed on the signed result: anyone may check it.
            "verification_url": kept.get("verification_url") if kept.get("signed")
            or kept.get("document_url") else None}


def view(row: dict[str, Any], case: dict[str, Any] | None, catalog: CatalogIndex,
         rating: dict[str, Any] | None, *, progress_known: bool) -> dict[str, Any]:
    """Everything the page shows, beside the lookup's first fields (api.public_status)."""
    procedure = catalog.procedure(row["procedure_code"])
    agency = catalog.agency(row["agency_code"])
    at_stage = stage(row, case)
    appointment = (case or {}).get("due_at") or row["due_at"]
    return {"stage": at_stage, "status_vi": STAGE_VI[at_stage],
            "procedure_name": procedure.name if procedure else None,
            "agency_name": agency.name if agency else None,
            "appointment_at": _local(appointment),
            "path": path(row, case, procedure),
            "result": result(row, case, at_stage),
            "rating": {"allowed": at_stage == "returned", **(rating or {})},
            # False: processing could not be asked just now; the status is intake's own.
            "progress_known": progress_known}


class SourceUnavailable(Exception):
    pass


class RatingUnavailable(Unavailable):
    """Reporting could not take the rating now: never said taken."""

    def __init__(self) -> None:
        super().__init__([Problem.of(
            "rating_unavailable", "Chưa ghi nhận được đánh giá; vui lòng thử lại sau",
            "the rating could not be recorded now; try again later", "score")])


class NotReturned(Conflict):
    """Reporting has not heard of the dossier's return yet: nothing to rate."""

    def __init__(self, code: str) -> None:
        super().__init__([Problem.of(
            "not_returned", f"Hồ sơ {code} chưa trả kết quả, chưa thể đánh giá",
            f"dossier {code} has not been returned yet; it cannot be rated", "code")])


class RatingRefused(DomainError):
    """Reporting refused the rating (rating_closed, an invalid comment...): its status
    and problems are the answer, as reporting gave them."""

    def __init__(self, status: int, problems: list[Reason]) -> None:
        super().__init__(problems)
        self.status = status  # type: ignore[misc]


@dataclass
class Sources:
    """Processing's case view and reporting's citizen ratings, asked as our service."""

    processing: httpx.AsyncClient | None
    reporting: httpx.AsyncClient | None

    @classmethod
    def from_settings(cls, settings: IntakeSettings) -> Sources:
        key = settings.service_api_key.get_secret_value()

        def client(url: str | None) -> httpx.AsyncClient | None:
            return httpx.AsyncClient(base_url=url.rstrip("/"), timeout=5.0,
                                     headers={"X-API-Key": key}) if url else None

        return cls(client(settings.processing_url), client(settings.reporting_url))

    async def case(self, code: str) -> dict[str, Any] | None:
        """The case view, None when processing has no case (yet); SourceUnavailable."""
        body = await self._get(self.processing, f"/api/v1/cases/{code}")
        return body if isinstance(body, dict) else None

    async def rating(self, code: str) -> dict[str, Any] | None:
        body = await self._get(self.reporting, f"/api/v1/dossiers/{code}/citizen-rating")
        return _rating(body) if isinstance(body, dict) else None

    async def rate(self, code: str, score: int, comment: str) -> httpx.Response:
        """Reporting's own answer (200, 404, 409, 422) to relay; SourceUnavailable."""
        if self.reporting is None:
            raise SourceUnavailable("INTAKE_REPORTING_URL is not set")
        try:
            response = await self.reporting.put(f"/api/v1/dossiers/{code}/citizen-rating",
                                                json={"score": score, "comment": comment})
        except httpx.HTTPError as exc:
            raise SourceUnavailable(repr(exc)) from exc
        if response.status_code >= 500 or response.status_code in (401, 403):
            raise SourceUnavailable(f"reporting answered {response.status_code}")
        return response

    async def _get(self, client: httpx.AsyncClient | None, path: str) -> Any:
        """The answer's body; None when not found; SourceUnavailable otherwise."""
        if client is None:
            raise SourceUnavailable("not configured")
        try:
            response = await client.get(path)
        except httpx.HTTPError as exc:
            raise SourceUnavailable(repr(exc)) from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise SourceUnavailable(f"{path} answered {response.status_code}")
        return response.json()


def _rating(body: dict[str, Any]) -> dict[str, Any]:
    return {k: body.get(k) for k in ("score", "comment", "rated_at", "changeable_until")}


def rating_answer(body: dict[str, Any], now: datetime) -> dict[str, Any]:
    """What the page is told after rating: the rating as kept, and whether it may change."""
    until = body.get("changeable_until")
    return {**_rating(body), "replaced": body.get("replaced", False),
            "changeable": bool(until) and datetime.fromisoformat(until) >= now}


async def lookup(sources: Sources, row: dict[str, Any], catalog: CatalogIndex
                 ) -> dict[str, Any]:
    """The public view of a dossier whose code and digits matched. A source that is away
    costs only its part: without processing, intake's own status answers
    (`progress_known` false); without reporting, no rating is shown."""
    code = row["code"]
    case, rating, known = None, None, True
    try:
        case = await sources.case(code)
    except SourceUnavailable:
        known = False
    if stage(row, case) == "returned":
        with contextlib.suppress(SourceUnavailable):
            rating = await sources.rating(code)
    return {"dossier_code": code, "status": row["status"],
            "agency_code": row["agency_code"], "procedure_code": row["procedure_code"],
            "received_at": row["received_at"], "due_at": row["due_at"],
            **view(row, case, catalog, rating, progress_known=known)}


async def rate(sources: Sources, code: str, score: int, comment: str, now: datetime
               ) -> dict[str, Any]:
    """The citizen's rating, taken by reporting: what it kept, or why not (RatingUnavailable,
    NotReturned, RatingRefused)."""
    try:
        answer = await sources.rate(code, score, comment)
    except SourceUnavailable as exc:
        raise RatingUnavailable() from exc
    if answer.status_code == 404:  # reporting has not heard of the dossier's return yet
        raise NotReturned(code)
    if answer.status_code != 200:
        raise RatingRefused(answer.status_code, [Problem.model_validate(p) for p in
                                                 answer.json().get("problems", [])])
    return {"dossier_code": code, **rating_answer(answer.json(), now)}
