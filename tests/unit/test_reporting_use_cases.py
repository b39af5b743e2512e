"""Reporting's event-handling use case (`Projection.apply`) against the in-memory repository:
the facts, step facts, memos and daily figures it stores, batch after batch, in or out of
order (its integration twin, with a database and a broker, is test_reporting_incremental)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from bench.rebuild import Published, lifecycle
from contracts.events import Event, StepAssigned
from contracts.registry import EVENT_TYPES
from services.common.messaging.consumer import Context
from services.law.catalog import load_catalogs
from services.law.workdays import TZ
from services.reporting.facts import AggKey, DossierFold, Recorded, contributions
from services.reporting.handlers import Projection
from tests.unit.fake_reporting import FakeReportingRepository

START = datetime(2026, 6, 1, 8, 0, tzinfo=TZ)
CATALOGS = load_catalogs()
NO_SESSION = cast(AsyncSession, None)  # the fake repository needs none


def batch(records: list[Published]) -> list[tuple[Context, Event]]:
    return [(Context(NO_SESSION, env, topic.name),
             cast(Event, EVENT_TYPES[env.type].model_validate(env.data)))
            for topic, env in records]


def projection() -> tuple[Projection, FakeReportingRepository]:
    repo = FakeReportingRepository()
    return Projection(CATALOGS, repo), repo


def one_fold(records: list[Published], p: Projection) -> dict[str, DossierFold]:
    by_code: dict[str, list[Recorded]] = {}
    for _, env in records:
        by_code.setdefault(env.subject, []).append(Recorded.parsed(env))
    return {code: DossierFold.of(code, evs, p.calendars) for code, evs in by_code.items()}


def daily_of(folds: dict[str, DossierFold]) -> dict[AggKey, Counter[str]]:
    out: dict[AggKey, Counter[str]] = {}
    for f in folds.values():
        for key, counts in contributions(f.fact).items():
            out.setdefault(key, Counter()).update(counts)
    return out


async def test_a_dossier_s_events_become_its_fact_steps_and_daily_figures() -> None:
    p, repo = projection()
    records = lifecycle(1, START)  # online, a supplement, resolved early, returned
    code = records[0][1].subject
    await p.apply(NO_SESSION, batch(records))
    fact = repo.facts[code]
    assert (fact.status, fact.channel, fact.timeliness) == ("returned", "online", "early")
    assert (fact.agency_code, fact.procedure_code) == ("000.01.02.H26", "BHXH.NH.03")
    assert (fact.event_count, fact.supplement_count, fact.step_count) == (9, 1, 1)
    assert not fact.supplement_open and fact.supplement_periods[0][1] is not None
    [step] = [st for (c, _), st in repo.steps.items() if c == code]
    assert (step.step_code, step.outcome) == ("CDBHXH", "early")
    assert step.working_seconds is not None and step.working_seconds > 0
    assert len(repo.events) == 9
    assert {m: n for c in repo.daily.values() for m, n in c.items()} == {
        "received": 1, "online": 1, "resolved": 1, "early": 1, "returned": 1}
    assert p.folds == {"advanced": 1, "refolded": 0}


async def test_a_step_event_out_of_order_folds_the_dossier_again_from_what_is_stored(
        ) -> None:
    p, repo = projection()
    records = lifecycle(6, START)
    code = records[0][1].subject
    assigned = next(r for r in records if r[1].type == StepAssigned.event_type)
    await p.apply(NO_SESSION, batch([r for r in records if r is not assigned]))
    assert repo.facts[code].step_count == 1  # a completion whose assignment is unknown yet
    await p.apply(NO_SESSION, batch([assigned]))
    assert p.folds == {"advanced": 1, "refolded": 1}
    expected = one_fold(records, p)[code]
    assert repo.facts[code] == expected.fact
    assert repo.memos[code] == expected.memo()
    assert {k: v for k, v in repo.steps.items() if k[0] == code} == {
        (code, st.idx): st for st in expected.steps()}
    assert repo.steps[code, 0].from_at == assigned[1].time


async def test_batches_in_any_order_end_as_one_fold_of_everything() -> None:
    p, repo = projection()
    records = [r for i in range(24) for r in lifecycle(i, START)]
    random.Random(7).shuffle(records)
    for i in range(0, len(records), 5):
        await p.apply(NO_SESSION, batch(records[i:i + 5]))
    expected = one_fold(records, p)
    assert repo.facts == {code: f.fact for code, f in expected.items()}
    assert repo.memos == {code: f.memo() for code, f in expected.items()}
    assert repo.steps == {(code, st.idx): st for code, f in expected.items()
                          for st in f.steps()}
    assert repo.daily == {k: c for k, c in daily_of(expected).items() if any(c.values())}
    assert len(repo.events) == len(records)
    assert p.folds["advanced"] and p.folds["refolded"]
