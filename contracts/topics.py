"""The topic registry: who writes each topic, its key, partitions, events and readers."""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts import events as ev
from contracts.ingest import IngestAccepted, IngestRejected, ProvinceDossierStatus

SERVICES = ("intake", "digitization", "processing", "notification", "reporting")


@dataclass(frozen=True)
class Topic:
    name: str
    owner: str
    key: str
    partitions: int
    events: tuple[str, ...]
    consumers: tuple[str, ...]
    description: str
    personal_data: bool = False
    dead_letter: bool = False
    extra: dict[str, str] = field(default_factory=dict)


def _types(*classes: type) -> tuple[str, ...]:
    return tuple(cls.event_type for cls in classes)


# Partition counts, and why (scale-out):
# - Data topics have 6. A consumer group spreads partitions over its members, so 6 is the
#   most replicas of one service that all get work: 2 replicas take 3 each, 3 take 2, 6 take
#   1 (tests/e2e/test_replicas_sigkill.py runs 2 of processing and of reporting, and after a
#   SIGKILL the survivor takes all 6). 6 divides evenly for 1, 2, 3 and 6 members. Keys are
#   dossier codes, so one dossier's events stay in order on one partition whatever the count.
#   More would let more replicas share a topic but split each batch the consumer fetches into
#   more, smaller ones (one fetch entry per partition); the pipeline is bound by the
#   services' CPU, not the broker (`make bench` prints both rates), so more partitions would
#   buy nothing yet. Changing a count later re-maps keys to partitions: per-dossier order
#   holds only for new records.
# - The reports, heartbeat and dead-letter topics have 1: few records, and one ordered log is
#   what their readers need (a relay compares its heartbeat's offsets to see a broker reset;
#   an operator reads dead letters in order).
INGEST = Topic(
    "onestop.ingest.v1", "provinces", "dossier code", 6, _types(ProvinceDossierStatus),
    ("intake",), "status changes reported by provincial systems", personal_data=True,
)
INGEST_REJECTED = Topic(
    "onestop.ingest.rejected.v1", "intake", "dossier code (IngestAccepted: system id)", 6,
    _types(IngestRejected, IngestAccepted), ("provinces",),
    "feedback to provinces: events not applied, with every problem; and, batch by batch, "
    "the events taken in (every record answered)",
)
INTAKE = Topic(
    "onestop.intake.v1", "intake", "dossier code", 6,
    _types(ev.DossierReceived, ev.DossierRejected, ev.DossierWithdrawn,
           ev.SupplementRequested, ev.SupplementReceived),
    ("digitization", "processing", "notification", "reporting"),
    "dossiers received, refused, withdrawn, supplemented (pseudonymous)",
)
INTAKE_PRIVATE = Topic(
    "onestop.intake.private.v1", "intake", "dossier code", 6, _types(ev.ApplicantRecorded),
    # Digitization: the counter checks a scanned declaration form against what was declared
    # (Decision 1333, Art. 9); only the mismatch kinds leave it, on its broad topic.
    ("processing", "digitization"), "the applicant's identity, only for processing and "
    "digitization (the scan checked against the declaration)", personal_data=True,
)
CONTACTS = Topic(
    "onestop.contacts.v1", "intake", "dossier code", 6, _types(ev.ContactsRecorded),
    ("notification",), "how to reach the applicant (phone, e-mail), only for notification: "
    "it writes to applicants and needs no personal numbers", personal_data=True,
)
PROVINCIAL = Topic(
    "onestop.provincial.v1", "intake", "dossier code", 6,
    _types(ev.StepAssigned, ev.StepCompleted, ev.DossierResolved, ev.ResultReturned),
    # notification: facts only (who holds it, when it closed), so a province's dossier is
    # not escalated as overdue after the province resolved it; the province tells its own.
    ("processing", "reporting", "notification"),
    "steps, decisions and returns of dossiers processed by a province's own software, as "
    "reported on the ingest topic (pseudonymous); processing's own topic carries the rest",
)
DIGITIZATION = Topic(
    "onestop.digitization.v1", "digitization", "dossier code", 6,
    _types(ev.ComponentDigitized, ev.DossierDigitized),
    ("processing", "reporting"), "components scanned, signed, and dossiers fully digitized",
)
PROCESSING = Topic(
    "onestop.processing.v1", "processing", "dossier code", 6,
    # SupplementRequested: a supplement asked during processing (stage "processing").
    _types(ev.StepAssigned, ev.StepCompleted, ev.SupplementRequested, ev.VerificationRequested,
           ev.VerificationAnswered, ev.DeadlineApproaching, ev.DossierOverdue,
           ev.OverdueExplained, ev.ApologyIssued, ev.DossierResolved, ev.ResultIssued,
           ev.ResultReturned),
    # Notification: deadline alerts to officers, heads and leaders; decisions and results to
    # applicants. The registry lists only readers that really subscribe.
    ("reporting", "notification"), "steps, deadlines, explanations, decisions (pseudonymous)",
)
NOTIFICATION = Topic(
    "onestop.notification.v1", "notification", "dossier code", 6,
    _types(ev.NotificationSent, ev.NotificationFailed),
    ("reporting",), "what was told to applicants, and what failed",
)
SUPPLEMENTS = Topic(
    "onestop.supplements.v1", "processing", "dossier code", 6, _types(ev.SupplementRequested),
    ("intake",), "supplements asked during processing, so the counter receives them as it "
    "receives its own (one rule, whoever asked); a narrow topic so intake does not read "
    "every step",
)
RESULTS = Topic(
    "onestop.results.v1", "processing", "dossier code", 6,
    _types(ev.DossierResolved, ev.ResultIssued, ev.ResultReturned),
    # Digitization: every result document goes into the applicant's data warehouse.
    ("other government systems", "digitization"),
    "public: results of every dossier (pseudonymous), processed centrally or by a province's "
    "own software (origin_system names it): one topic for a subscriber (docs/other-systems.md)",
)

REPORTS = Topic(
    "onestop.reports.v1", "reporting", "report code (a rating: dossier code)", 1,
    _types(ev.QuarterlyReportClosed, ev.DossierRated),
    # Reporting reads its own ratings back: its projection (a rebuild, another database)
    # holds them only from this topic.
    ("national reporting system", "reporting"),
    "closed quarterly reports (figures only, no dossier) and satisfaction ratings (score "
    "and comment, nobody named)",
)


HEARTBEAT = Topic(
    "onestop.heartbeat.v1", "every service (runtime)", "service name", 1, (), ("operators",),
    "liveness records of each outbox relay; a relay whose acknowledged offset here goes "
    "backwards knows the broker lost its log",
)


def dead_letter_topic(service: str) -> Topic:
    """Each consuming service owns one dead-letter topic for records it could not apply."""
    return Topic(
        f"onestop.dlq.{service}.v1", service, "original key", 1, (), ("operators",),
        f"records {service} could not parse or apply, with the reason in headers",
        dead_letter=True,
    )


DATA_TOPICS: tuple[Topic, ...] = (
    INGEST, INGEST_REJECTED, INTAKE, INTAKE_PRIVATE, CONTACTS, PROVINCIAL, DIGITIZATION, PROCESSING,
    SUPPLEMENTS, NOTIFICATION, RESULTS, REPORTS,
)
CONSUMING_SERVICES = tuple(s for s in SERVICES if any(s in t.consumers for t in DATA_TOPICS))
DEAD_LETTER_TOPICS: tuple[Topic, ...] = tuple(dead_letter_topic(s) for s in CONSUMING_SERVICES)
TOPICS: tuple[Topic, ...] = (*DATA_TOPICS, *DEAD_LETTER_TOPICS, HEARTBEAT)
BY_NAME: dict[str, Topic] = {t.name: t for t in TOPICS}


def topics_consumed_by(service: str) -> tuple[Topic, ...]:
    return tuple(t for t in DATA_TOPICS if service in t.consumers)


def topics_owned_by(service: str) -> tuple[Topic, ...]:
    return tuple(t for t in TOPICS if t.owner == service)
