"""Reporting's fold: a dossier's events in any order, with redeliveries, give the same fact,
steps and daily contributions; a projection updated batch by batch (as the consumer does)
ends where one fold of everything ends."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.rebuild import lifecycle
from services.law.catalog import load_catalogs
from services.law.workdays import TZ, WorkCalendar
from services.reporting.calendars import Calendars
from services.reporting.facts import (
    AggKey,
    RawEvent,
    contributions,
    fold,
    legal_receipt,
    working_seconds,
)

CALENDARS = Calendars(load_catalogs())
START = datetime(2026, 6, 1, 8, 0, tzinfo=TZ)


def raw(i: int) -> list[RawEvent]:
    return [RawEvent(str(env.id), env.type, env.time, env.agencycode, env.data)
            for _, env in lifecycle(i, START)]


# Lifecycles with a supplement, a late decision and its explanation, a withdrawal, a
# province-processed one, one still in progress.
CASES = {i: raw(i) for i in (1, 3, 5, 6, 7, 20)}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(CASES)), st.randoms(use_true_random=False))
def test_any_order_and_redelivery_give_the_same_fact(i: int, rnd: object) -> None:
    events = CASES[i]
    code = lifecycle(i, START)[0][1].subject
    expected = fold(code, events, CALENDARS)
    shuffled = events + [rnd.choice(events) for _ in range(3)]  # type: ignore[attr-defined]
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert fold(code, shuffled, CALENDARS) == expected


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=6, unique=True),
       st.randoms(use_true_random=False), st.integers(1, 7))
def test_batch_by_batch_equals_one_fold(ids: list[int], rnd: object, size: int) -> None:
    """As the consumer does: each batch re-folds the touched dossiers and moves the daily
    figures by new minus old contributions; any interleaving ends at the same figures."""
    everything = [e for i in ids for e in raw(i)]
    rnd.shuffle(everything)  # type: ignore[attr-defined]
    code_of = {e.event_id: e.data["dossier_code"] for e in everything}
    stored: dict[str, list[RawEvent]] = {}
    facts: dict[str, object] = {}
    daily: Counter[AggKey] = Counter()
    for start in range(0, len(everything), size):
        batch = everything[start:start + size]
        for e in batch:
            stored.setdefault(code_of[e.event_id], []).append(e)
        for code in {code_of[e.event_id] for e in batch}:
            new, _ = fold(code, stored[code], CALENDARS)
            for key, c in contributions(facts.get(code)).items():  # type: ignore[arg-type]
                for m, n in c.items():
                    daily[(*key, m)] -= n  # type: ignore[index]
            for key, c in contributions(new).items():
                for m, n in c.items():
                    daily[(*key, m)] += n  # type: ignore[index]
            facts[code] = new
    once = {code: fold(code, evs, CALENDARS)[0] for code, evs in stored.items()}
    assert facts == once
    expected: Counter[AggKey] = Counter()
    for f in once.values():
        for key, c in contributions(f).items():
            for m, n in c.items():
                expected[(*key, m)] += n  # type: ignore[index]
    assert +daily == +expected


def test_fact_fields_of_a_late_explained_dossier() -> None:
    # lifecycle 1: a supplement (clock restarts), resolved after its appointment
    events = raw(1)
    code = events[0].data["dossier_code"]
    fact, steps = fold(code, events, CALENDARS)
    assert fact.channel == "online" and not fact.province_processed
    assert fact.supplement_count == 1 and not fact.supplement_open
    assert fact.due_at != fact.original_due_at  # the complete supplement restarted it
    assert fact.status == "returned" and fact.decision == "approved"
    assert len(steps) == 1 and steps[0].assignee == "cb.1" and steps[0].working_seconds
    provincial = raw(3)
    assert fold(provincial[0].data["dossier_code"], provincial, CALENDARS)[0].province_processed


def test_legal_receipt_moves_after_closing_and_on_days_off() -> None:
    cal = WorkCalendar()
    # Monday 14/09/2026 17:30: after closing -> Tuesday 15/09 07:30
    at, day = legal_receipt(cal, datetime(2026, 9, 14, 17, 30, tzinfo=TZ))
    assert at == datetime(2026, 9, 15, 7, 30, tzinfo=TZ) and day.isoformat() == "2026-09-15"
    # Sunday 15/03/2026 00:30 -> Monday 16/03 07:30
    at, _ = legal_receipt(cal, datetime(2026, 3, 15, 0, 30, tzinfo=TZ))
    assert at == datetime(2026, 3, 16, 7, 30, tzinfo=TZ)
    # within hours: the real time
    real = datetime(2026, 9, 14, 16, 59, tzinfo=TZ)
    assert legal_receipt(cal, real)[0] == real


def test_working_seconds_count_office_hours_of_working_days() -> None:
    cal = WorkCalendar()
    friday = datetime(2026, 9, 11, 16, 0, tzinfo=TZ)
    # Fri 16:00-17:00 (1 h), weekend nothing, Mon 07:30-09:30 (2 h)
    assert working_seconds(cal, friday, friday + timedelta(days=3, hours=-6.5)) == 3 * 3600
    assert working_seconds(cal, friday, friday) == 0
