"""Reporting's fold: a dossier's events in any order, with redeliveries, give the same fact,
steps and daily contributions; a projection updated batch by batch (as the consumer does,
adding each batch onto the stored fold, or folding again when an event comes out of order)
ends where one fold of everything ends."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.rebuild import lifecycle
from contracts.events import DossierDigitized, StepAssigned
from services.law.catalog import load_catalogs
from services.law.workdays import TZ, WorkCalendar
from services.reporting.calendars import Calendars
from services.reporting.fact_rows import memo_json, memo_of_json
from services.reporting.facts import (
    EVENT_TIME,
    AggKey,
    DossierFact,
    DossierFold,
    Recorded,
    StepFact,
    contributions,
    fold,
    legal_receipt,
    working_seconds,
)

CALENDARS = Calendars(load_catalogs())
START = datetime(2026, 6, 1, 8, 0, tzinfo=TZ)


def raw(i: int) -> list[Recorded]:
    return [Recorded.parsed(env) for _, env in lifecycle(i, START)]


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
    code_of = {e.event_id: e.event.dossier_code for e in everything}
    stored: dict[str, list[Recorded]] = {}
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
    code = events[0].event.dossier_code
    fact, steps = fold(code, events, CALENDARS)
    assert fact.channel == "online" and not fact.province_processed
    assert fact.supplement_count == 1 and not fact.supplement_open
    assert fact.due_at != fact.original_due_at  # the complete supplement restarted it
    assert fact.status == "returned" and fact.decision == "approved"
    assert len(steps) == 1 and steps[0].assignee == "cb.1" and steps[0].working_seconds
    provincial = raw(3)
    assert fold(provincial[0].event.dossier_code, provincial, CALENDARS)[0].province_processed


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


def _as_stored(fact: DossierFact) -> DossierFact:
    """The fact as the table gives it back: times in UTC, the periods a fresh list."""
    values = {name: (v.astimezone(UTC) if isinstance(v, datetime) else v)
              for name, v in ((f.name, getattr(fact, f.name)) for f in fields(fact))}
    values["supplement_periods"] = json.loads(json.dumps(fact.supplement_periods))
    return DossierFact(**values)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=6, unique=True),
       st.randoms(use_true_random=False), st.integers(1, 9))
def test_incremental_fold_in_any_order_and_batching_equals_one_fold(
        ids: list[int], rnd: object, size: int) -> None:
    """As the consumer does now: each batch's events are added onto the stored fold (the
    fact and its memo as the table keeps them), or, when one sorts before an event folded
    already, the dossier is folded again from everything stored; the facts, every step fact
    written and the memos end as one fold of everything gives, with the daily figures."""
    everything = [e for i in ids for e in raw(i)]
    rnd.shuffle(everything)  # type: ignore[attr-defined]
    stored: dict[str, list[Recorded]] = {}
    kept: dict[str, tuple[DossierFact, dict[str, object]]] = {}
    steps: dict[tuple[str, int], StepFact] = {}
    daily: Counter[tuple[object, ...]] = Counter()
    for start in range(0, len(everything), size):
        new: dict[str, list[Recorded]] = {}
        for e in everything[start:start + size]:
            new.setdefault(e.event.dossier_code, []).append(e)
        for code, events in new.items():
            fact, memo = kept.get(code, (None, None))
            for key, c in contributions(fact).items():
                daily.update({(*key, m): -n for m, n in c.items()})
            folded = DossierFold.load(fact, memo_of_json(memo)) if fact else DossierFold(code)
            if folded is None or not folded.advance(events, CALENDARS):
                folded = DossierFold.of(code, stored.get(code, []) + events, CALENDARS)
            stored.setdefault(code, []).extend(events)
            for key, c in contributions(folded.fact).items():
                daily.update({(*key, m): n for m, n in c.items()})
            kept[code] = (_as_stored(folded.fact),
                          json.loads(json.dumps(memo_json(folded.memo()))))
            steps.update({(code, s.idx): replace(s) for s in folded.steps()})
    once = {code: DossierFold.of(code, evs, CALENDARS) for code, evs in stored.items()}
    assert {code: fact for code, (fact, _) in kept.items()} == \
        {code: f.fact for code, f in once.items()}
    assert {code: memo for code, (_, memo) in kept.items()} == \
        {code: memo_json(f.memo()) for code, f in once.items()}
    assert steps == {(code, s.idx): s for code, f in once.items() for s in f.steps()}
    expected: Counter[tuple[object, ...]] = Counter()
    for f in once.values():
        for key, c in contributions(f.fact).items():
            expected.update({(*key, m): n for m, n in c.items()})
    assert +daily == +expected


def test_only_a_late_step_or_supplement_event_folds_the_dossier_again() -> None:
    """A single-valued part (the digitization here) takes an event that arrives after later
    ones in O(1); a step event sorting before the latest step folded is refused by
    `advance`, and the caller folds the dossier again. Both end as one fold of all."""
    events = sorted(raw(1), key=lambda r: r.key)
    code = events[0].event.dossier_code
    digitized = next(r for r in events if isinstance(r.event, DossierDigitized))
    assigned = next(r for r in events if isinstance(r.event, StepAssigned))
    folded = DossierFold(code)
    assert folded.advance([r for r in events if r not in (digitized, assigned)], CALENDARS)
    late = DossierFold.load(_as_stored(folded.fact), folded.memo())
    assert late is not None and late.advance([digitized], CALENDARS)
    again = DossierFold.load(_as_stored(late.fact), late.memo())
    assert again is not None and not again.advance([assigned], CALENDARS)
    assert DossierFold.of(code, events, CALENDARS).memo().keys["digitized"] == \
        digitized.key == late.memo().keys["digitized"]


def test_each_event_time_names_a_field_of_its_contract() -> None:
    """The fold reads each event's business moment by name: a contract field renamed
    without the fold fails here, not as a silent envelope time."""
    for cls, name in EVENT_TIME.items():
        assert cls.model_fields[name].annotation is not None, (cls, name)
    for r in raw(1):
        assert r.at == getattr(r.event, EVENT_TIME[type(r.event)])
