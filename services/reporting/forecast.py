"""Breach forecast: the open dossiers likely to miss their due time, from each office's
queue and the step durations it has shown. Pure: no I/O; every duration is in working
seconds of the dossier's calendar (the adapter converts).

For an open dossier held at step k of its procedure by an office:
    remaining = max(mean(office, step k) - elapsed in step k, 0)        its current step
              + waiting ahead at (office, step k) × mean / officers     the office's queue
              + Σ mean(office, later step)                               the steps after it
and it is forecast to miss when remaining > the working time left until its due time.
A step the office has never completed falls back to the mean of every office for it, and
to `default_step` if nobody has. `margin` scales the means (1.0 = as shown)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.law.workdays import WorkCalendar
from services.reporting.facts import working_seconds


@dataclass(frozen=True)
class StepMean:
    agency_code: str
    step_code: str
    mean_seconds: float
    count: int


@dataclass(frozen=True)
class OpenHolding:
    """An open dossier where it stands now."""

    dossier_code: str
    agency_code: str
    step_code: str
    assignee: str | None
    queued_since: float  # ordering in the office's queue (e.g. assignment timestamp)
    elapsed: float  # working seconds in its current step so far
    available: float  # working seconds left until its due time (negative: already late)
    later_steps: tuple[str, ...]  # the procedure's steps after the current one


@dataclass(frozen=True)
class Prediction:
    dossier_code: str
    remaining: float
    available: float
    queue_ahead: int

    @property
    def miss(self) -> bool:
        return self.remaining > self.available


class Durations:
    def __init__(self, means: Iterable[StepMean], default_step: float, margin: float = 1.0
                 ) -> None:
        means = list(means)
        self.by_office = {(m.agency_code, m.step_code): m.mean_seconds for m in means
                          if m.count}
        totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for m in means:
            totals[m.step_code][0] += m.mean_seconds * m.count
            totals[m.step_code][1] += m.count
        self.by_step = {s: t[0] / t[1] for s, t in totals.items() if t[1]}
        self.default = default_step
        self.margin = margin

    def mean(self, agency: str, step: str) -> float:
        found = self.by_office.get((agency, step), self.by_step.get(step, self.default))
        return found * self.margin


def predict(durations: Durations, holdings: Sequence[OpenHolding]) -> list[Prediction]:
    """Every open holding's forecast, in the order given. An officer's holding time already
    includes the officer's own pile, so only the dossiers waiting to be assigned queue:
    each waits for the ones ahead of it at that office and step, shared by the officers
    holding that step there now."""
    waiting: dict[tuple[str, str], list[OpenHolding]] = defaultdict(list)
    officers: dict[tuple[str, str], set[str]] = defaultdict(set)
    for h in holdings:
        key = (h.agency_code, h.step_code)
        if h.assignee:
            officers[key].add(h.assignee)
        else:
            waiting[key].append(h)
    ahead: dict[str, int] = {}
    for queue in waiting.values():
        queue.sort(key=lambda h: (h.queued_since, h.dossier_code))
        ahead.update((h.dossier_code, i) for i, h in enumerate(queue))
    out = []
    for h in holdings:
        key = (h.agency_code, h.step_code)
        step = durations.mean(h.agency_code, h.step_code)
        n = ahead.get(h.dossier_code, 0)
        wait = n * step / max(1, len(officers[key]))
        later = sum(durations.mean(h.agency_code, s) for s in h.later_steps)
        out.append(Prediction(h.dossier_code, max(step - h.elapsed, 0.0) + wait + later,
                              h.available, n))
    return out


def precision_recall(predicted: Iterable[str], actual: Iterable[str]) -> tuple[float, float]:
    """Of the dossiers forecast to miss, the share that did; of those that did, the share
    forecast."""
    p, a = set(predicted), set(actual)
    hit = len(p & a)
    return (hit / len(p) if p else 0.0), (hit / len(a) if a else 0.0)


def holding(fact: Any, steps: Sequence[Any], procedure: tuple[str, ...], cal: WorkCalendar,
            now: datetime) -> OpenHolding:
    """Where an open dossier (a fact and its step facts) stands now: the step it is held
    in (or waits to be assigned, after the last completed one), for how long, and the
    working time left until its due time."""
    held = [st for st in steps if st.to_at is None and st.from_at is not None]
    if held:
        cur = max(held, key=lambda st: st.from_at)
        code, since, assignee, no = cur.step_code, cur.from_at, cur.assignee, cur.step_no
    else:
        done = [st for st in steps if st.to_at is not None]
        last = max(done, key=lambda st: st.to_at, default=None)
        no = last.step_no + 1 if last else 1
        code = procedure[no - 1] if no <= len(procedure) else (last.step_code if last else "")
        since = last.to_at if last else (fact.legal_received_at or fact.received_at or now)
        assignee = None
    later = procedure[procedure.index(code) + 1:] if code in procedure else procedure[no:]
    elapsed = working_seconds(cal, since, now) if held else 0
    return OpenHolding(fact.dossier_code, fact.agency_code, code, assignee, since.timestamp(),
                       float(elapsed), float(working_seconds(cal, now, fact.due_at)), later)
