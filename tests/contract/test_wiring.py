"""Each service's subscriptions follow from what it handles and the topic registry; a
disagreement stops the service before it starts, naming every mismatch."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from contracts.events import DossierReceived, NotificationSent, StepAssigned
from contracts.topics import SERVICES, topics_consumed_by
from services.common.messaging.wiring import WiringError, subscriptions_for


async def _noop(*_: object) -> None:
    return None


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_reads_exactly_the_topics_the_registry_gives_it(
        service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONESTOP_VAR_DIR", str(tmp_path))
    runtime = importlib.import_module(f"services.{service}.app").build()
    assert [s.topic.name for s in runtime.subscriptions] == \
        [t.name for t in topics_consumed_by(service)]
    for sub in runtime.subscriptions:
        assert set(sub.handlers) <= set(sub.topic.events)


def test_a_handler_for_an_event_no_read_topic_carries_is_refused() -> None:
    with pytest.raises(WiringError, match=re.escape(
            "digitization handles notification.sent.v1, but no topic the registry lets it read "
            "carries it")):
        subscriptions_for("digitization", {DossierReceived: _noop, NotificationSent: _noop})


def test_a_registry_topic_whose_events_are_ignored_is_refused() -> None:
    with pytest.raises(WiringError) as caught:
        subscriptions_for("reporting", {StepAssigned: _noop})
    message = str(caught.value)
    # every reading the registry gives reporting that it would ignore is named
    for topic in ("onestop.intake.v1", "onestop.digitization.v1", "onestop.notification.v1"):
        assert f"reader of {topic}" in message


def test_outsiders_topics_refuse_unknown_types_and_answer() -> None:
    from contracts.events import SupplementRequested
    from contracts.ingest import ProvinceDossierStatus

    ingest, supplements = subscriptions_for(
        "intake", {ProvinceDossierStatus: _noop, SupplementRequested: _noop},
        answers={"onestop.ingest.v1": _noop})
    assert ingest.topic.name == "onestop.ingest.v1"
    assert ingest.strict_types and ingest.answer is _noop
    # A province may serialize an event again when it resends it: known by content.
    assert ingest.hash_content
    # Processing's own topic is not an outsider's: no strict types, nobody to answer, and
    # its relay publishes the bytes it stored, so its records are known by their bytes.
    assert not supplements.strict_types and supplements.answer is None
    assert not supplements.hash_content
    from contracts.events import ApplicantRecorded, ResultIssued

    intake, private, results = subscriptions_for(
        "digitization", {DossierReceived: _noop, ApplicantRecorded: _noop, ResultIssued: _noop})
    assert not intake.strict_types and intake.answer is None
    assert not results.strict_types and results.answer is None
    assert not intake.hash_content and not private.hash_content and not results.hash_content


def test_intake_verifies_who_wrote_each_ingest_record_and_only_there() -> None:
    from contracts.events import SupplementRequested
    from contracts.ingest import ProvinceDossierStatus
    from services.intake.app import build

    runtime = build()
    verified = {s.topic.name for s in runtime.subscriptions if s.verify is not None}
    assert verified == {"onestop.ingest.v1"}
    with pytest.raises(WiringError, match=re.escape("verifies writers on onestop.intake.v1")):
        subscriptions_for("intake", {ProvinceDossierStatus: _noop, SupplementRequested: _noop},
                          verifiers={"onestop.intake.v1": lambda record: "x"})
