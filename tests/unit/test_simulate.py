"""The province simulator's traffic: reproducible from its seed, mixed as configured, and
every dossier's life one the catalogue and intake's own rules accept."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from contracts.envelope import Envelope
from contracts.ingest import PortalStatus, ProvinceDossierStatus
from deploy.simulate import (
    MALFORMED_KINDS,
    Mix,
    Record,
    expectation,
    generate,
    load_provinces,
    ready,
)
from services.intake.ingest import load_systems
from services.intake.province_status import authorised
from services.intake.rules import check_submission
from services.intake.settings import IntakeSettings
from services.law.catalog import load_catalogs

CATALOG = load_catalogs().latest
PROVINCES = load_provinces(catalog=CATALOG)
END = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIX = Mix(duplicates=0.08, out_of_order=0.2, malformed=0.05)


def traffic(seed: int, dossiers: int = 600, mix: Mix = MIX) -> list[Record]:
    return generate(CATALOG, PROVINCES, dossiers=dossiers, seed=seed, end=END, mix=mix)


@pytest.fixture(scope="module")
def records() -> list[Record]:
    return traffic(11)


def test_the_same_seed_gives_the_same_traffic_and_another_seed_another() -> None:
    one, again, other = traffic(5, 80), traffic(5, 80), traffic(6, 80)
    assert [(r.key, r.value, r.at, r.kind) for r in one] == \
        [(r.key, r.value, r.at, r.kind) for r in again]
    assert [r.value for r in one] != [r.value for r in other]
    # Signed at a given moment, the records to produce are the same bytes too.
    assert list(ready(one, at_ms=1_767_225_600_000)) == list(ready(again, at_ms=1_767_225_600_000))


def test_shares_of_duplicates_out_of_order_and_malformed_are_about_as_configured(
        records: list[Record]) -> None:
    expected = expectation(records)
    assert expected.lifecycle_events > 3000
    assert expected.duplicates / expected.lifecycle_events == pytest.approx(0.08, abs=0.02)
    assert expected.malformed / expected.lifecycle_events == pytest.approx(0.05, abs=0.015)
    assert expected.out_of_order / expected.dossiers == pytest.approx(0.2, abs=0.05)
    assert {r.kind for r in records if not r.well_formed} == set(MALFORMED_KINDS)
    # A duplicate is the very record again: same key, same bytes (so the same event id).
    events = {r.value for r in records if r.kind == "event"}
    assert all(r.value in events for r in records if r.kind == "duplicate")
    none = expectation(traffic(11, 200, Mix(duplicates=0, out_of_order=0, malformed=0)))
    assert (none.duplicates, none.out_of_order, none.malformed) == (0, 0, 0)


def test_records_are_sent_in_order_never_before_what_they_report(
        records: list[Record]) -> None:
    assert [r.at for r in records] == sorted(r.at for r in records)
    assert max(r.at for r in records) <= END
    for r in records:
        if r.kind in ("event", "duplicate"):
            data = json.loads(r.value)["data"]
            assert datetime.fromisoformat(data["occurred_at"]) <= r.at


def test_every_life_is_valid_per_the_catalogue_and_intakes_rules(
        records: list[Record]) -> None:
    systems = load_systems(IntakeSettings.model_fields["province_systems_file"].default)
    lives: dict[str, list[tuple[int, ProvinceDossierStatus]]] = defaultdict(list)
    for r in records:
        if r.kind != "event":
            continue
        envelope = Envelope.model_validate_json(r.value)
        event = ProvinceDossierStatus.model_validate(envelope.data)
        assert envelope.subject == event.dossier_code == r.key.decode()
        assert authorised(systems, CATALOG, envelope.source, event, r.system_id) == []
        lives[event.dossier_code].append((r.position, event))
    assert len(lives) == 600
    endings: set[PortalStatus] = set()
    for code, life in lives.items():
        events = [e for _, e in sorted(life, key=lambda p: p[0])]
        first, last = events[0], events[-1]
        procedure = CATALOG.procedure(first.procedure_code)
        assert procedure is not None, code
        times = [e.occurred_at for e in events]
        assert times == sorted(times), code
        assert first.status in (PortalStatus.received, PortalStatus.not_received)
        assert first.applicant is not None
        problems, _, _ = check_submission(
            CATALOG, agency_code=first.agency_code, procedure_code=first.procedure_code,
            applicant_kind=first.applicant.kind, components=first.components,
            received_at=first.received_at or first.occurred_at,
            now=END + timedelta(days=1), applicant=first.applicant)
        assert problems == [], (code, problems)
        endings.add(last.status)
        if first.status == PortalStatus.not_received:
            assert len(events) == 1 and first.reasons
            continue
        # The catalogue's steps, in order, each assigned then completed (up to a withdrawal).
        steps = [(e.step.step_code, e.step.department, e.step.completed)
                 for e in events if e.status == PortalStatus.processing and e.step]
        expected = [(s.code, s.department, done) for s in procedure.steps
                    for done in (False, True)]
        if last.status == PortalStatus.withdrawn:
            assert steps == expected[:len(steps)] and steps, code
            continue
        assert steps == expected, code
        assert [e.status for e in events[-2:]] == [PortalStatus.resolved, PortalStatus.returned]
        resolved = events[-2]
        assert resolved.decision in ("approved", "denied")
        assert bool(resolved.reasons) == (resolved.decision == "denied")
        # On time: decided well inside the legal time (no deadline alert falls due).
        legal = CATALOG.legal_time(procedure, first.applicant.kind)
        assert resolved.occurred_at - first.occurred_at < timedelta(days=legal.value) / 2
    assert endings == {PortalStatus.returned, PortalStatus.withdrawn, PortalStatus.not_received}


def test_the_expectation_counts_each_distinct_event_once(records: list[Record]) -> None:
    expected = expectation(records)
    distinct = {r.value for r in records if r.kind == "event"}
    assert expected.lifecycle_events == len(distinct)
    assert sum(expected.intake_events.values()) == len(distinct)
    assert expected.intake_events["dossier.received.v1"] == expected.received
    assert expected.received + expected.refused == expected.dossiers
    # Beyond intake's events: each receipt's components and dossier digitized, and one
    # inbox message per receipt, refusal and supplement request.
    components = sum(r.components for r in records if r.kind == "event")
    notified = expected.received + expected.refused + \
        expected.intake_events["supplement.requested.v1"]
    assert expected.reporting_events == len(distinct) + components + expected.received + \
        notified


def test_more_provinces_than_registered_is_refused() -> None:
    with pytest.raises(ValueError, match="registered"):
        load_provinces(len(PROVINCES) + 1, catalog=CATALOG)


def test_lives_play_on_the_compressed_clock_from_the_start() -> None:
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    records = generate(CATALOG, PROVINCES, dossiers=50, seed=3, start=start,
                       span=timedelta(seconds=30), speed=3600,
                       mix=Mix(duplicates=0, out_of_order=0, malformed=0))
    assert min(r.at for r in records) >= start
    by_code: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_code[r.dossier_code].append(r)
    for life in by_code.values():
        happened = [datetime.fromisoformat(json.loads(r.value)["data"]["occurred_at"])
                    for r in life]
        # An hour of the dossier's life is a second of sending; its last record is sent as
        # it happens (so none is from the future).
        sim = (happened[-1] - happened[0]).total_seconds()
        assert (life[-1].at - life[0].at).total_seconds() == pytest.approx(sim / 3600, abs=1e-3)
        assert abs((life[-1].at - happened[-1]).total_seconds()) < 1e-3
        assert all(h <= r.at + timedelta(microseconds=1) for h, r in zip(happened, life,
                                                                          strict=True))


def test_another_tag_gives_the_same_lives_under_fresh_codes_and_ids() -> None:
    one = generate(CATALOG, PROVINCES, dossiers=30, seed=4, end=END, tag="a")
    other = generate(CATALOG, PROVINCES, dossiers=30, seed=4, end=END, tag="b")
    ids = [{json.loads(r.value)["id"] for r in t if r.kind == "event"} for t in (one, other)]
    assert not ids[0] & ids[1]
    assert not {r.dossier_code for r in one} & {r.dossier_code for r in other}
    assert [r.status for r in one] == [r.status for r in other]
