"""The national dashboard's figures, from aggregate rows the repository reads: per province
and office (received today, in progress, near-due, overdue, on-time rate), the trend, the
overdue list and a dossier's path as a timeline. Pure: no I/O.

A province is the agency tree's province-level ancestor of an office (or the office itself);
a central agency is its own "province" (it reports nationally)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts.catalog import Agency, AgencyLevel
from contracts.registry import short_name
from services.law.catalog import CatalogSet
from services.reporting.domain import TraceEntry
from services.reporting.facts import BUSINESS_TIME

FIGURES = ("received_today", "in_progress", "awaiting_supplement", "near_due", "overdue",
           "resolved", "on_time")

# What each event of a dossier's path means to the person reading it.
LABELS_VI = {
    "dossier.received.v1": "Tiếp nhận hồ sơ", "dossier.rejected.v1": "Từ chối tiếp nhận",
    "dossier.withdrawn.v1": "Công dân rút hồ sơ", "supplement.requested.v1": "Yêu cầu bổ sung",
    "supplement.received.v1": "Nhận hồ sơ bổ sung", "component.digitized.v1": "Số hoá thành phần",
    "dossier.digitized.v1": "Số hoá hồ sơ", "step.assigned.v1": "Giao xử lý",
    "step.completed.v1": "Hoàn thành bước", "verification.requested.v1": "Đề nghị xác minh",
    "verification.answered.v1": "Trả lời xác minh",
    "deadline.approaching.v1": "Cảnh báo sắp đến hạn",
    "dossier.overdue.v1": "Quá hạn", "overdue.explained.v1": "Giải trình quá hạn",
    "apology.issued.v1": "Thư xin lỗi, hẹn lại", "dossier.resolved.v1": "Có kết quả giải quyết",
    "result.issued.v1": "Ban hành kết quả", "result.returned.v1": "Trả kết quả",
    "notification.sent.v1": "Đã thông báo", "notification.failed.v1": "Thông báo không gửi được",
    "dossier.rated.v1": "Đánh giá mức độ hài lòng",
}
# Kinds the timeline marks (the page colours them).
KIND = {"supplement.requested.v1": "supplement", "supplement.received.v1": "supplement",
        "deadline.approaching.v1": "alert", "dossier.overdue.v1": "alert",
        "overdue.explained.v1": "explanation", "apology.issued.v1": "explanation",
        "verification.requested.v1": "verification", "verification.answered.v1": "verification"}


class Org:
    """Names and provinces of agencies, from every catalogue version (latest first)."""

    def __init__(self, catalogs: CatalogSet) -> None:
        self.indexes = list(reversed(catalogs.indexes))
        self._province: dict[str, str] = {}

    def agency(self, code: str) -> Agency | None:
        return next((a for i in self.indexes if (a := i.agency(code)) is not None), None)

    def name(self, code: str) -> str:
        agency = self.agency(code)
        return str(agency.name) if agency else code

    def province(self, code: str) -> str:
        found = self._province.get(code)
        if found is None:
            found = code
            agency, seen = self.agency(code), {code}
            while agency is not None and agency.level == AgencyLevel.local and agency.parent \
                    and agency.parent not in seen:
                seen.add(agency.parent)
                found = agency.parent
                agency = self.agency(found)
            self._province[code] = found
        return found


@dataclass
class Figures:
    received_today: int = 0
    in_progress: int = 0
    awaiting_supplement: int = 0
    near_due: int = 0
    overdue: int = 0
    resolved: int = 0  # in the rate's window
    on_time: int = 0  # early or on time, in the rate's window

    def add(self, other: Figures) -> None:
        for name in FIGURES:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in FIGURES}
        out["on_time_rate"] = round(self.on_time / self.resolved, 4) if self.resolved else None
        return out


@dataclass
class AgencyRows:
    """The aggregate rows of one snapshot, as the repository reads them."""

    received: list[tuple[str, int]] = field(default_factory=list)  # (agency, today)
    resolved: list[tuple[str, int, int]] = field(default_factory=list)  # (agency, all, in time)
    open: list[tuple[str, int, int, int, int]] = field(default_factory=list)
    # (agency, in progress, awaiting supplement, near-due, overdue)


def per_agency(rows: AgencyRows) -> dict[str, Figures]:
    out: dict[str, Figures] = {}
    for agency, n in rows.received:
        out.setdefault(agency, Figures()).received_today += n
    for agency, resolved, on_time in rows.resolved:
        f = out.setdefault(agency, Figures())
        f.resolved += resolved
        f.on_time += on_time
    for agency, in_progress, awaiting, near, overdue in rows.open:
        f = out.setdefault(agency, Figures())
        f.in_progress += in_progress
        f.awaiting_supplement += awaiting
        f.near_due += near
        f.overdue += overdue
    return out


def provinces(org: Org, figures: dict[str, Figures]) -> list[dict[str, Any]]:
    """Provinces ranked (best first: on-time rate, then fewest overdue), each with its
    offices."""
    grouped: dict[str, dict[str, Figures]] = {}
    for agency, f in figures.items():
        grouped.setdefault(org.province(agency), {})[agency] = f
    out = []
    for province, offices in grouped.items():
        total = Figures()
        for f in offices.values():
            total.add(f)
        out.append({"code": province, "name": org.name(province), **total.as_dict(),
                    "offices": sorted(({"code": c, "name": org.name(c), **f.as_dict()}
                                       for c, f in offices.items()), key=lambda o: o["code"])})
    out.sort(key=lambda p: (-(p["on_time_rate"] if p["on_time_rate"] is not None else -1),
                            p["overdue"], p["code"]))
    for rank, p in enumerate(out, 1):
        p["rank"] = rank
    return out


def totals(figures: Iterable[Figures]) -> dict[str, Any]:
    total = Figures()
    for f in figures:
        total.add(f)
    return total.as_dict()


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def dossier_row(org: Org, fact: Any, now: datetime) -> dict[str, Any]:
    """One line of a dossier list (a fact row or DossierFact)."""
    late = fact.due_at is not None and fact.status == "in_progress" and fact.due_at < now
    return {"dossier_code": fact.dossier_code, "agency_code": fact.agency_code,
            "agency_name": org.name(fact.agency_code),
            "province": org.province(fact.agency_code), "procedure_code": fact.procedure_code,
            "channel": fact.channel, "status": fact.status,
            "received_at": iso(fact.received_at), "due_at": iso(fact.due_at),
            "resolved_at": iso(fact.resolved_at), "timeliness": fact.timeliness,
            "overdue": bool(fact.overdue or late), "overdue_at": iso(fact.overdue_at),
            "explained": bool(fact.explained), "explained_at": iso(fact.explained_at),
            "last_recorded_at": iso(fact.last_recorded_at)}


def timeline(org: Org, fact: Any, steps: list[Any], events: list[TraceEntry],
             day_seconds: float, now: datetime) -> dict[str, Any]:
    """A dossier's path: its fact, every holding (who, from, to, working days) and every
    event in business time, supplements, alerts and explanations marked."""
    entries = []
    for e in events:
        name = short_name(e.type)
        data = e.data or {}
        entries.append({"type": name, "label": LABELS_VI.get(name, name),
                        "kind": KIND.get(name, "event"), "at": _business_at(name, data, e),
                        "service": e.service, "detail": _detail(name, data)})
    entries.sort(key=lambda x: x["at"])
    held = [{"idx": st.idx, "step_no": st.step_no, "step_code": st.step_code,
             "agency_code": st.agency_code, "department": st.department,
             "assignee": st.assignee, "from_at": iso(st.from_at), "to_at": iso(st.to_at),
             "outcome": st.outcome, "step_due_at": iso(st.step_due_at),
             "working_days": (round(st.working_seconds / day_seconds, 2)
                              if st.working_seconds is not None else None)}
            for st in steps]
    return {"dossier": dossier_row(org, fact, now), "steps": held, "events": entries,
            "supplement_periods": fact.supplement_periods or []}


def _business_at(name: str, data: dict[str, Any], event: TraceEntry) -> str:
    value = data.get(BUSINESS_TIME.get(name, ""))
    return str(value) if value else event.time.isoformat()


def _detail(name: str, data: dict[str, Any]) -> str:
    """A short Vietnamese line of what the event says (no personal data: refs only)."""
    if name == "step.assigned.v1":
        return f"{data.get('department', '')} — {data.get('assignee') or 'chưa phân công'}"
    if name == "step.completed.v1":
        return f"{data.get('department', '')} ({data.get('outcome') or ''})"
    if name == "supplement.requested.v1":
        return "; ".join(str(i.get("problem_vi", "")) for i in data.get("items") or [])
    if name == "supplement.received.v1":
        return "đủ" if data.get("complete") else "chưa đủ"
    if name == "overdue.explained.v1":
        return str(data.get("cause") or "")
    if name == "verification.requested.v1":
        return f"gửi {data.get('to_agency', '')}"
    if name == "verification.answered.v1":
        return f"từ {data.get('from_agency', '')}"
    if name == "dossier.resolved.v1":
        return f"{data.get('decision', '')} ({data.get('timeliness') or ''})"
    if name in ("dossier.overdue.v1", "deadline.approaching.v1"):
        if data.get("other_agency"):  # another agency's sub-deadline, not the dossier's
            return f"hạn trả lời của {data['other_agency']} {data.get('due_at', '')}"
        return f"hạn {data.get('due_at', '')}"
    if name == "dossier.rated.v1":
        return f"{data.get('score', '')}/5"  # the comment stays off the path
    return ""
