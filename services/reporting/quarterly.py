"""The legal quarterly report (docs/law.md#the-quarterly-report, Decision 2192/QĐ-BHXH). Pure.

Period: 0:00 on the 15th of the previous quarter's last month to 24:00 on the 14th of this
quarter's last month, Asia/Ho_Chi_Minh. A dossier belongs to the period holding its legal
moment of receipt (Decree 45/2020, `facts.legal_receipt`). Per agency:
- received: in the period (online / direct or postal) plus carried over (received before
  the period, neither resolved nor withdrawn before it); total = the three together, as
  the government's form counts "số hồ sơ nhận giải quyết";
- resolved in the period, of those: early / on time / late against the legal appointment;
- pending at the cut-off: within time (appointment not passed at the cut-off, or the
  applicant owed a supplement then: the clock stands still) / overdue;
- refused (not received: refused at the counter in the period), withdrawn in the period;
- returned for supplement: of the dossiers counted, those asked for a supplement in the
  period (hồ sơ yêu cầu bổ sung, hoàn thiện).
So received.total = resolved.total + pending.total + withdrawn for every agency. The same
indicators per procedure under every agency (the form's procedure rows), and the
sub-deadline overruns of the other agencies asked (`subdeadlines.py`).

Merged offices: a dossier reports under its agency as it stood on its day in the period
(its legal receipt day if received in the period, else the period's first day), following
`successor` while that agency had ceased (valid_to) before that day. The tree is the
catalogue's (the version in force at the period's end) with the agencies active at some
moment of the period.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from contracts import events as ev
from contracts.catalog import Agency, AgencyLevel
from services.law.catalog import CatalogIndex, CatalogSet
from services.law.catalog.loader import CatalogError
from services.law.workdays import TZ, timeliness
from services.reporting import subdeadlines
from services.reporting.facts import DossierFact
from services.reporting.subdeadlines import Verification

# The events whose facts the report reads (receipt, channel, appointment and its restarts,
# the clock standing still, decision, refusal, withdrawal): an `as_of` report folds only
# these, and gets the same figures as from all of them.
EVENTS_READ: tuple[str, ...] = tuple(cls.event_type for cls in (
    ev.DossierReceived, ev.DossierRejected, ev.DossierWithdrawn, ev.SupplementRequested,
    ev.SupplementReceived, ev.DossierResolved))


@dataclass(frozen=True)
class Period:
    year: int
    quarter: int
    start: datetime  # inclusive
    end: datetime  # exclusive: the cut-off

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return date.fromordinal(self.end.date().toordinal() - 1)

    def json(self) -> dict[str, Any]:
        return {"year": self.year, "quarter": self.quarter, "from": self.first_day.isoformat(),
                "to": self.last_day.isoformat(), "cutoff": self.end.isoformat()}


def period(year: int, quarter: int) -> Period:
    if not 1 <= quarter <= 4:
        raise ValueError("quarter must be 1 to 4")
    last_month = 3 * quarter
    start = date(year - 1, 12, 15) if quarter == 1 else date(year, last_month - 3, 15)
    return Period(year, quarter, datetime.combine(start, datetime.min.time(), tzinfo=TZ),
                  datetime(year, last_month, 15, tzinfo=TZ))


def period_holding(at: datetime) -> Period:
    """The period a moment belongs to."""
    local = at.astimezone(TZ)
    year, quarter = local.year, (local.month - 1) // 3 + 1
    p = period(year, quarter)
    if local >= p.end:
        return period(year + (quarter == 4), quarter % 4 + 1)
    return p


def last_closed(now: datetime) -> Period:
    """The latest period whose cut-off has passed."""
    current = period_holding(now)
    return period(current.year - (current.quarter == 1), (current.quarter - 2) % 4 + 1)


@dataclass
class Indicators:
    online: int = 0
    direct_or_postal: int = 0
    postal: int = 0  # of direct_or_postal
    carried_over: int = 0
    early: int = 0
    on_time: int = 0
    late: int = 0
    within_time: int = 0
    overdue: int = 0
    refused: int = 0
    withdrawn: int = 0
    returned_for_supplement: int = 0

    def add(self, other: Indicators) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def json(self) -> dict[str, Any]:
        return {
            "received": {"total": self.online + self.direct_or_postal + self.carried_over,
                         "online": self.online, "direct_or_postal": self.direct_or_postal,
                         "carried_over": self.carried_over,
                         "direct": self.direct_or_postal - self.postal, "postal": self.postal},
            "resolved": {"total": self.early + self.on_time + self.late, "early": self.early,
                         "on_time": self.on_time, "late": self.late},
            "pending": {"total": self.within_time + self.overdue,
                        "within_time": self.within_time, "overdue": self.overdue},
            "refused": self.refused, "withdrawn": self.withdrawn,
            "returned_for_supplement": self.returned_for_supplement}


def _in(at: datetime | None, p: Period) -> bool:
    return at is not None and p.start <= at < p.end


def dossier_indicators(f: DossierFact, p: Period) -> tuple[date, Indicators] | None:
    """What one dossier counts for in the period, and the day its agency is taken on."""
    one = Indicators()
    if f.legal_received_at is None:
        if _in(f.refused_at, p):
            assert f.refused_at is not None
            one.refused = 1
            return f.refused_at.astimezone(TZ).date(), one
        return None
    closes = [t for t in (f.resolved_at, f.withdrawn_at) if t is not None]
    closed_at = min(closes) if closes else None
    if _in(f.legal_received_at, p):
        on = f.legal_received_at.astimezone(TZ).date()
        if f.channel == "online":
            one.online = 1
        else:
            one.direct_or_postal = 1
            one.postal = int(f.channel == "postal")
    elif f.legal_received_at < p.start and (closed_at is None or closed_at >= p.start):
        on = p.first_day
        one.carried_over = 1
    else:
        return None
    one.returned_for_supplement = int(any(
        start is not None and _in(datetime.fromisoformat(start), p)
        for start, _ in f.supplement_periods))
    if closed_at is not None and closed_at < p.end:
        if f.withdrawn_at is not None and closed_at == f.withdrawn_at and (
                f.resolved_at is None or f.withdrawn_at < f.resolved_at):
            one.withdrawn = 1
        else:
            assert f.resolved_at is not None
            how = timeliness(f.resolved_at, f.due_at).value if f.due_at else (
                f.timeliness or "on_time")
            setattr(one, how, 1)
    elif f.due_at is not None and f.due_at < p.end and not _awaiting_supplement(f, p.end):
        one.overdue = 1
    else:
        one.within_time = 1
    return on, one


def _awaiting_supplement(f: DossierFact, at: datetime) -> bool:
    """The legal clock stands still while the applicant owes a supplement (it restarts on
    the complete supplement): such a dossier is not overdue at the cut-off."""
    return any(datetime.fromisoformat(start) < at and (
        end is None or datetime.fromisoformat(end) >= at)
        for start, end in f.supplement_periods if start is not None)


@dataclass
class Node:
    agency: Agency | None
    code: str
    indicators: Indicators = field(default_factory=Indicators)
    children: list[Node] = field(default_factory=list)
    # The same indicators per procedure, of the agency and its subtree.
    procedures: dict[str, Indicators] = field(default_factory=dict)

    def json(self, names: Callable[[str], tuple[str, str]] | None = None) -> dict[str, Any]:
        """`names`: a procedure code's (name, field)."""
        return {"agency": self.code, "name": self.agency.name if self.agency else self.code,
                "level": self.agency.level.value if self.agency else None,
                "indicators": self.indicators.json(),
                "procedures": [self._procedure(code, names) for code in sorted(self.procedures)],
                "children": [c.json(names) for c in self.children]}

    def _procedure(self, code: str, names: Callable[[str], tuple[str, str]] | None
                   ) -> dict[str, Any]:
        name, area = names(code) if names else (code, "")
        return {"procedure": code, "name": name, "field": area,
                "indicators": self.procedures[code].json()}

    def walk(self) -> Iterable[tuple[int, Node]]:
        stack = [(0, self)]
        while stack:
            depth, node = stack.pop()
            yield depth, node
            stack.extend((depth + 1, c) for c in reversed(node.children))


class OrgTree:
    """The organisation as it stood in a period."""

    def __init__(self, catalogs: CatalogSet, p: Period) -> None:
        self.catalogs = catalogs
        try:
            self.index: CatalogIndex = catalogs.in_force(p.last_day)
        except CatalogError:  # a period before the first catalogue: the earliest one
            self.index = catalogs.indexes[0]
        self.period = p
        self.agencies = self.index.agencies
        self.active = {c: a for c, a in self.agencies.items()
                       if a.valid_from <= p.last_day and (a.valid_to is None
                                                          or a.valid_to >= p.first_day)}

    def reporting_agency(self, code: str, on: date) -> str:
        """The agency a dossier of `code` reports under on `on`: its successor from the
        day after it ceased (the day of the merger)."""
        seen: set[str] = set()
        agency = self.agencies.get(code)
        while agency and agency.valid_to and agency.valid_to < on and agency.successor \
                and agency.code not in seen:
            seen.add(agency.code)
            code = agency.successor
            agency = self.agencies.get(code)
        return code

    def roots(self) -> list[str]:
        return sorted(a.code for a in self.active.values()
                      if a.level == AgencyLevel.central and not a.parent)

    def root(self) -> str:
        roots = self.roots()
        return roots[0] if roots else next(iter(self.active))

    def contains(self, root: str, code: str) -> bool:
        return code == root or root in self.index.ancestors(code)

    def reports_under(self, root: str, code: str, on: date) -> bool:
        """Whether a dossier of `code` on `on` counts in the report of `root` (a central
        root also shows the agencies the catalogue does not know)."""
        code = self.reporting_agency(code, on)
        if code not in self.agencies:
            agency = self.agencies.get(root)
            return agency is not None and agency.level == AgencyLevel.central
        return self.contains(root, code)

    def procedure_names(self, code: str) -> tuple[str, str]:
        """(name, field) of a procedure: in the period's catalogue, else in any version."""
        for index in (self.index, *reversed(self.catalogs.indexes)):
            found = index.procedure(code)
            if found is not None:
                return str(found.name), str(found.field)
        return code, ""

    def build(self, facts: Iterable[DossierFact], root: str) -> Node:
        own: dict[str, Indicators] = {}
        by_procedure: dict[str, dict[str, Indicators]] = {}
        for f in facts:
            counted = dossier_indicators(f, self.period)
            if counted is None:
                continue
            on, one = counted
            agency = self.reporting_agency(f.agency_code, on)
            own.setdefault(agency, Indicators()).add(one)
            by_procedure.setdefault(agency, {}).setdefault(f.procedure_code,
                                                           Indicators()).add(one)
        return self._node(root, own, by_procedure, top=True)

    def _node(self, code: str, own: dict[str, Indicators],
              by_procedure: dict[str, dict[str, Indicators]], top: bool = False) -> Node:
        node = Node(self.agencies.get(code), code)
        kids = sorted(c for c, a in self.active.items() if a.parent == code)
        if top and node.agency is not None and node.agency.level == AgencyLevel.central:
            # Dossiers of agencies the catalogue does not know are shown, not lost.
            kids += sorted(c for c in own if c not in self.agencies)
        node.children = [self._node(k, own, by_procedure) for k in kids]
        node.indicators.add(own.get(code, Indicators()))
        for procedure, one in by_procedure.get(code, {}).items():
            node.procedures.setdefault(procedure, Indicators()).add(one)
        for child in node.children:
            node.indicators.add(child.indicators)
            for procedure, one in child.procedures.items():
                node.procedures.setdefault(procedure, Indicators()).add(one)
        return node


def report(facts: Iterable[DossierFact], catalogs: CatalogSet, year: int, quarter: int,
           agency: str | None, verifications: Iterable[Verification] = ()) -> dict[str, Any]:
    """The report of `agency`'s tree (the national root by default); `verifications`: the
    requests to other agencies, whose sub-deadline overruns it counts."""
    p = period(year, quarter)
    tree = OrgTree(catalogs, p)
    root = agency or tree.root()
    node = tree.build(facts, root)
    return {"period": p.json(), **node.json(tree.procedure_names),
            "sub_deadlines": subdeadlines.per_agency(
                verifications, p.start, p.end,
                lambda code, on: tree.reports_under(root, code, on))}
