"""Ratings as events: the rating that stands is the latest (rated_at, event id) whatever
order the DossierRated events come in, and a dossier's facts ignore its ratings (applied
before or after its other events, the fact is the same)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.envelope import Envelope
from contracts.events import DossierRated
from services.law.catalog import load_catalogs
from services.law.workdays import TZ
from services.reporting.calendars import Calendars
from services.reporting.domain import Rating, latest_ratings
from services.reporting.facts import Recorded, fold
from services.reporting.handlers import rating_of
from tests.unit.test_reporting_facts import CASES

AT = datetime(2026, 10, 12, 10, 0, tzinfo=TZ)
CALENDARS = Calendars(load_catalogs())


def rating(code: str, score: int, minutes: int, event_id: str) -> Rating:
    return Rating(code, "000.01.01.H26", score, f"Điểm {score}", AT + timedelta(minutes=minutes),
                  event_id)


RATINGS = [rating("D1", 2, 0, "a"), rating("D1", 4, 5, "b"), rating("D1", 1, 5, "0"),
           rating("D2", 5, 1, "c"), rating("D2", 3, 0, "d")]


@settings(max_examples=50, deadline=None)
@given(st.permutations(RATINGS + RATINGS[:2]))
def test_the_latest_rating_stands_whatever_the_order(shuffled: list[Rating]) -> None:
    # D1: two at +5 min, the greater event id stands; D2: the later one.
    assert [(r.dossier_code, r.score) for r in latest_ratings(shuffled)] == [("D1", 4),
                                                                             ("D2", 5)]


def test_a_rating_event_becomes_the_row_of_its_dossier_and_office() -> None:
    event = DossierRated(dossier_code="000.01.01.H26-261012-0001", score=4, comment="Tốt",
                         rated_at=AT)
    env = Envelope(id=uuid.uuid4(), type=event.event_type, source="onestop/reporting",
                   subject=event.dossier_code, time=AT, agencycode="000.01.01.H26",
                   data=event.model_dump(mode="json"))
    assert rating_of(env, DossierRated.model_validate(env.data)) == Rating(
        event.dossier_code, "000.01.01.H26", 4, "Tốt", AT, str(env.id))


def test_a_dossiers_facts_ignore_its_ratings() -> None:
    events = CASES[1]
    code = "D-ignored"
    rated = Recorded(str(uuid.uuid4()), AT + timedelta(days=400), events[0].agency_code,
                     DossierRated(dossier_code=code, score=5, comment="", rated_at=AT))
    assert fold(code, [*events, rated], CALENDARS) == fold(code, events, CALENDARS)
