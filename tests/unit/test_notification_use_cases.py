"""The notifier's batch use case against an in-memory repository: what the events tell of
each dossier is kept, the rules' messages are queued once whatever the redeliveries, and a
province's own dossiers are told to nobody. The database path is
tests/integration/test_notification_sender.py and test_notification_pipeline.py."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import MetaData

from contracts import topics
from contracts.events import ContactsRecorded, DossierOverdue, DossierReceived, Event, StepAssigned
from contracts.registry import short_name
from services.common.clock import FixedClock
from services.common.messaging.consumer import Context
from services.common.messaging.outbox import OutboxWriter
from services.common.persistence.db import runtime_tables
from services.law.catalog import load_catalogs
from services.law.workdays import TZ, WorkCalendar
from services.notification.directory import load_directory
from services.notification.domain import Planner, QuietHours, escalation_time
from services.notification.dossier import WatchedDossier
from services.notification.handlers import Notifier
from services.notification.rules import load_rules
from services.notification.settings import NotificationSettings
from services.notification.templates import Templates
from tests.unit.fake_notification import NO_SESSION, FakeNotificationRepository

S = NotificationSettings()
CATALOGS = load_catalogs()
EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"
NOW = datetime(2026, 3, 10, 9, 30, tzinfo=TZ)  # a working morning: nothing waits
RECEIVED: DossierReceived = DossierReceived.model_validate(json.loads(
    (EXAMPLES / f"{short_name(DossierReceived.event_type)}.json").read_text("utf-8"))["data"])
CODE, AGENCY = RECEIVED.dossier_code, RECEIVED.agency_code
APPLICANT = RECEIVED.applicant.ref
OFFICER, HEAD = "badinh.cd.cb01", "badinh.cd.truong-phong"


def escalate_at(d: WatchedDossier) -> datetime:
    assert d.due_at is not None
    return escalation_time(d.due_at, WorkCalendar(), 2)


def notifier() -> tuple[Notifier, OutboxWriter, FakeNotificationRepository]:
    templates = Templates(S.templates_dir)
    planner = Planner(load_rules(S.rules_file, templates), templates,
                      load_directory(S.directory_file, CATALOGS.latest.ancestors), CATALOGS,
                      ("inbox", "email", "sms"), QuietHours())
    outbox = OutboxWriter("notification", runtime_tables(MetaData()), FixedClock(NOW))
    repo = FakeNotificationRepository()
    return Notifier(planner, outbox, escalate_at, repository=repo), outbox, repo


def batch(outbox: OutboxWriter, *events: tuple[topics.Topic, Event]
          ) -> list[tuple[Context, Event]]:
    return [(Context(session=NO_SESSION, envelope=outbox.envelope(e, AGENCY), topic=t.name), e)
            for t, e in events]


def assigned() -> StepAssigned:
    return StepAssigned(dossier_code=CODE, step_no=1, step_code="CDBHXH",
                        department="Phòng Chế độ BHXH", assignee=OFFICER,
                        assigned_at=NOW - timedelta(days=5))


async def test_a_receipt_tells_the_applicant_once_and_keeps_the_dossiers_facts() -> None:
    use_case, outbox, repo = notifier()
    contacts = ContactsRecorded(dossier_code=CODE, applicant_ref=APPLICANT,
                                phone="0912345678", email="a@example.vn")
    first = batch(outbox, (topics.CONTACTS, contacts), (topics.INTAKE, RECEIVED),
                  (topics.PROCESSING, assigned()))
    await use_case.apply_batch(NO_SESSION, first)

    assert repo.kept_contacts[APPLICANT]["phone"] == "0912345678"
    facts = repo.facts[CODE]
    assert (facts.agency_code, facts.procedure_code, facts.applicant_ref, facts.due_at) == (
        AGENCY, RECEIVED.procedure_code, APPLICANT, RECEIVED.due_at)
    assert (facts.department, facts.assignee) == ("Phòng Chế độ BHXH", OFFICER)
    queued = sorted(repo.queue.values(), key=lambda m: m.channel)
    # dossier.received tells the applicant; a step assigned tells nobody.
    assert [(m.audience, m.channel, m.recipient) for m in queued] == [
        ("applicant", "email", APPLICANT), ("applicant", "inbox", APPLICANT),
        ("applicant", "sms", APPLICANT)]
    assert all(m.about_event == "dossier.received" and m.dossier_code == CODE
               and m.status == "pending" and m.not_before == NOW and m.address is None
               for m in queued)
    assert CODE in queued[1].body

    # The same batch again (a redelivery, same envelope ids): nothing new queued, and the
    # facts, unchanged, are not written back.
    await use_case.apply_batch(NO_SESSION, first)
    assert len(repo.queue) == 3 and repo.written == [[CODE], []]


async def test_an_overdue_dossier_tells_its_officer_and_head_and_is_timed_to_escalate() -> None:
    use_case, outbox, repo = notifier()
    await use_case.apply_batch(NO_SESSION, batch(outbox, (topics.INTAKE, RECEIVED),
                                                 (topics.PROCESSING, assigned())))
    overdue = DossierOverdue(dossier_code=CODE, due_at=RECEIVED.due_at, detected_at=NOW)
    await use_case.apply_batch(NO_SESSION, batch(outbox, (topics.PROCESSING, overdue)))

    facts = repo.facts[CODE]
    assert facts.overdue_at == NOW and facts.escalate_at == escalate_at(facts)
    told = sorted((m.audience, m.channel, m.recipient) for m in repo.queue.values()
                  if m.about_event == "dossier.overdue")
    assert told == [("department_head", "email", HEAD), ("department_head", "inbox", HEAD),
                    ("officer", "email", OFFICER), ("officer", "inbox", OFFICER)]


async def test_a_provinces_own_dossier_is_folded_but_told_to_nobody() -> None:
    use_case, outbox, repo = notifier()
    await use_case.apply_batch(NO_SESSION, batch(outbox, (topics.PROVINCIAL, RECEIVED)))
    assert repo.facts[CODE].applicant_ref == APPLICANT and repo.queue == {}
