"""The ingest topic's use cases: provincial systems report status changes on
`onestop.ingest.v1` in the National Public Service Portal's terms; province_status.py maps them to
the national lifecycle. Anything not applied is answered on the feedback topic with every
problem found."""

from __future__ import annotations

import hmac
from datetime import timedelta
from pathlib import Path
from typing import Literal

import yaml
from aiokafka import ConsumerRecord
from prometheus_client import CollectorRegistry, Counter
from pydantic_core import to_json

from contracts import topics
from contracts.common import Reason
from contracts.envelope import Envelope
from contracts.ingest import (
    MAX_ACKNOWLEDGED,
    SIGNATURE_HEADER,
    SYSTEM_HEADER,
    TIMESTAMP_HEADER,
    IngestAccepted,
    PortalStatus,
    ProvinceDossierStatus,
    signature,
)
from services.common.clock import Clock
from services.common.messaging.consumer import Context, Received, Refusal, traced
from services.common.messaging.dead_letters import DeadLetter
from services.intake import province_status
from services.intake.domain import Rejected, no_catalogue
from services.intake.dossier import Dossier
from services.intake.handlers import Intake, emit_all
from services.intake.province_status import Feedback
from services.intake.repository import Session
from services.intake.rules import (
    check_submission,
    control_characters,
    may_hold_control_characters,
    printable,
)
from services.law.catalog.loader import CatalogError

# What became of a province event: applied, kept until its dossier's receipt, or refused
# (answered by IngestRejected).
Outcome = Literal["applied", "parked", "refused"]
# The outcomes other than "applied" of a transaction's events (event id -> outcome), for
# their acknowledgement; in the session's info, so a transaction rolled back takes them along.
_OUTCOMES = "ingest_outcomes"


class IngestHandler:
    def __init__(self, intake: Intake, systems: dict[str, list[str]]) -> None:
        self.systems = systems  # system id -> agency codes it may report for (and below)
        self.intake = intake
        self.repository = intake.repository
        self.outbox = intake.outbox

    async def __call__(self, ctx: Context, event: ProvinceDossierStatus) -> None:
        if not await self._unprintable(ctx.session, ctx, event):
            await self.apply(ctx.session, ctx.envelope, event, ctx.principal)

    async def batch(self, s: Session, items: list[tuple[Context, ProvinceDossierStatus]]
                    ) -> None:
        """A consumed batch of province events, in order: the dossiers and parked events
        they touch read once, their writes made once at the end (repository.begin_batch).
        What became of each is kept for its acknowledgement (`acknowledge`)."""
        outcomes: dict[str, str] = s.info.setdefault(_OUTCOMES, {})
        readable = []
        for ctx, event in items:
            with traced(ctx):
                if await self._unprintable(s, ctx, event):
                    outcomes[str(ctx.envelope.id)] = "refused"
                else:
                    readable.append((ctx, event))
        await self.repository.begin_batch(s, {e.dossier_code for _, e in readable})
        for ctx, event in readable:
            with traced(ctx):
                outcome = await self.apply(s, ctx.envelope, event, ctx.principal)
            if outcome != "applied":
                outcomes[str(ctx.envelope.id)] = outcome
        await self.repository.end_batch(s)

    async def _unprintable(self, s: Session, ctx: Context, event: ProvinceDossierStatus
                           ) -> bool:
        """A text holding control characters is refused before anything is looked up or
        kept by it (PostgreSQL cannot even compare a text holding NUL). The record's bytes
        are looked through first; a Context built without them has its event written."""
        if not may_hold_control_characters(ctx.record_value or to_json(event)):
            return False
        problems = control_characters(event)
        if problems:
            await self._feedback(s, province_status.rejection(ctx.envelope, event, problems))
        return bool(problems)

    async def apply(self, s: Session, envelope: Envelope, event: ProvinceDossierStatus,
                    signer: str | None = None) -> Outcome:
        """One province event, in the consumed batch's transaction; `signer` is the system
        whose key signed the record (None when the broker authenticated it)."""
        try:
            refused = province_status.authorised(self.systems, self.intake.catalog, envelope.source,
                                        event, signer)
            if event.status in province_status.FIRST_STATUSES:
                await self._first(s, event, refused)
                await self._replay_parked(s, event.dossier_code)
                return "applied"
            if refused:
                raise Rejected(refused)
            row = await self.repository.dossier(s, event.dossier_code)
            if row is None:
                # Ahead of its receipt: keep it and apply it when the receipt arrives (or
                # answer it when it expires).
                await self.repository.park(s, {
                    "event_id": str(envelope.id), "dossier_code": event.dossier_code,
                    "occurred_at": event.occurred_at, "parked_at": self.outbox.clock.now(),
                    "envelope": envelope.model_dump(mode="json")})
                return "parked"
            if problems := province_status.owns(self.systems, self.intake.catalog, event, row):
                raise Rejected(problems)
            await self._news(s, event, row)
            return "applied"
        except CatalogError as exc:
            # No catalogue in force on that day: retrying cannot help; tell the province.
            await self._feedback(s, province_status.rejection(envelope, event, [no_catalogue(exc)]))
        except Rejected as exc:
            await self._feedback(s, province_status.rejection(envelope, event, exc.problems))
        return "refused"

    async def acknowledge(self, s: Session, received: list[Received]) -> None:
        """The consumer's batch, answered: for each system, its events applied, parked and
        taken in before (sent again), in one IngestAccepted keyed by the system (more when
        they are many); the refused ones were answered by IngestRejected already."""
        outcomes: dict[str, str] = s.info.pop(_OUTCOMES, {})
        lists: dict[str, dict[str, list[str]]] = {}
        for r in received:
            event_id, system = str(r.envelope.id), r.event.system_id
            if r.principal is not None and r.principal != system:
                # Another system's record, signed with this one's key and already taken in:
                # its signer hears why; the system it names had its answer.
                await self._feedback(s, Feedback(
                    event_id, r.event.dossier_code, r.principal, r.event.agency_code,
                    [province_status.wrong_signer(r.principal, system)]))
                continue
            kind = "duplicates" if r.duplicate else outcomes.get(event_id, "applied")
            if kind != "refused":
                by_kind = lists.setdefault(system, {"applied": [], "parked": [],
                                                    "duplicates": []})
                by_kind[kind].append(event_id)
        now = self.outbox.clock.now()
        for system, by_kind in lists.items():
            roots = self.systems.get(system) or [""]
            for part in _parts(by_kind, MAX_ACKNOWLEDGED):
                event = IngestAccepted(system_id=system, accepted_at=now, **part)
                await self.outbox.add(s, topics.INGEST_REJECTED, Envelope(
                    type=event.event_type, source=self.outbox.source, subject=system,
                    time=now, agencycode=roots[0], data=event.model_dump(mode="json")))

    async def _first(self, s: Session, event: ProvinceDossierStatus,
                     refused: list[Reason]) -> None:
        """Status 2 (received) or 3 (not received): the dossier enters the national record."""
        already = await self.repository.dossier(s, event.dossier_code) is not None
        problems = province_status.first_problems(event, refused, already)
        sub = province_status.province_submission(event)
        now = self.outbox.clock.now()
        if event.status == PortalStatus.not_received:
            if problems:
                raise Rejected(problems)
            await self.intake.refuse(s, sub, event.reasons, now)
            return
        if problems:  # not allowed: still list what else is wrong, but receive nothing
            found, _, _ = check_submission(
                self.intake.catalog_on(sub.received_at), agency_code=sub.agency_code,
                procedure_code=sub.procedure_code, applicant_kind=sub.applicant.kind,
                components=sub.components, received_at=sub.received_at, now=now,
                applicant=sub.applicant)
            raise Rejected(problems + found)
        await self.intake.receive(s, sub, now)
        await self.repository.set_status_if_newer(s, event.dossier_code, "received",
                                                  sub.received_at, self.outbox.clock.now())

    async def _replay_parked(self, s: Session, code: str) -> None:
        """The events that arrived ahead of this receipt, in the order they happened."""
        parked = await self.repository.parked_for(s, code)
        if not parked:
            return
        # Read once: applying news changes only the status, none of what it is judged by.
        row = await self.repository.dossier(s, code)
        for one in parked:
            envelope = Envelope.model_validate(one["envelope"])
            event = ProvinceDossierStatus.model_validate(envelope.data)
            if row is None:
                continue
            # Its signer was checked when it was parked.
            if problems := province_status.authorised(self.systems, self.intake.catalog,
                                             envelope.source, event) or \
                    province_status.owns(self.systems, self.intake.catalog, event, row):
                await self._feedback(s, province_status.rejection(envelope, event, problems))
                continue
            await self._news(s, event, row)
        await self.repository.drop_parked_for(s, code)

    async def _news(self, s: Session, event: ProvinceDossierStatus,
                    dossier: Dossier) -> None:
        """Statuses 4-10 of a received dossier: its national events, then its status."""
        news = province_status.province_news(event, dossier)
        await emit_all(self.outbox, s, news.emits)
        if news.status is not None and news.at is not None:
            await self.repository.set_status_if_newer(s, event.dossier_code, news.status,
                                                      news.at, self.outbox.clock.now())

    async def _feedback(self, s: Session, feedback: Feedback) -> None:
        now = self.outbox.clock.now()
        event = feedback.event(now)
        # The key echoes what the province sent: a refused code may hold control characters.
        await self.outbox.add(s, topics.INGEST_REJECTED, Envelope(
            type=event.event_type, source=self.outbox.source,
            subject=printable(feedback.dossier_code or feedback.rejected_event_id), time=now,
            agencycode=printable(feedback.agency_code), data=event.model_dump(mode="json")))

    async def answer(self, s: Session, refusal: Refusal) -> None:
        """A record the consumer refused: the province hears why on its feedback topic, as
        far as its record can be read."""
        record = refusal.record
        await self._feedback(s, province_status.unreadable(
            refusal.envelope, record.value, record.key,
            f"{record.topic}/{record.partition}/{record.offset}", refusal.reason,
            refusal.detail))

    async def expire_parked(self, s: Session, older_than: timedelta, limit: int = 1000) -> int:
        """Events parked for a dossier that never arrived are answered, then forgotten."""
        before = self.outbox.clock.now() - older_than
        rows = await self.repository.parked_before(s, before, limit)
        for parked in rows:
            await self._feedback(s, province_status.expired(
                parked["event_id"], parked["dossier_code"], parked["envelope"], older_than))
        if rows:
            await self.repository.drop_parked(s, [r["event_id"] for r in rows])
        return len(rows)


def _parts(lists: dict[str, list[str]], size: int) -> list[dict[str, list[str]]]:
    """The lists cut into parts of at most `size` ids in all, in order."""
    flat = [(kind, event_id) for kind, ids in lists.items() for event_id in ids]
    parts = []
    for start in range(0, len(flat), size):
        part: dict[str, list[str]] = {kind: [] for kind in lists}
        for kind, event_id in flat[start:start + size]:
            part[kind].append(event_id)
        parts.append(part)
    return parts


class SignatureCheck:
    """Who wrote an ingest record: the system whose key signed its value and timestamp
    (contracts/ingest.py); anything else is refused before the record is read, counted."""

    def __init__(self, keys: dict[str, bytes], clock: Clock, registry: CollectorRegistry,
                 max_age_seconds: float, max_skew_seconds: float) -> None:
        self.keys = keys
        self.clock = clock
        self.max_age_ms = int(max_age_seconds * 1000)
        self.max_skew_ms = int(max_skew_seconds * 1000)
        self.refused = Counter(
            "onestop_ingest_signature_refused_total",
            "province records refused for their signature, before anything was applied",
            ["reason", "system"], registry=registry).labels

    def __call__(self, record: ConsumerRecord) -> str:
        headers: dict[str, bytes] = {}
        for name, value in record.headers or ():
            headers.setdefault(name, value or b"")  # the first of a repeated header counts
        system = headers.get(SYSTEM_HEADER, b"").decode("utf-8", "replace")
        # Only registered names become label values: a hostile producer cannot grow them.
        label = system if system in self.keys else "unregistered"
        missing = [h for h in (SYSTEM_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
                   if not headers.get(h)]
        if missing:
            raise self._refuse("signature_missing", label, f"no header {', '.join(missing)}")
        stamp = headers[TIMESTAMP_HEADER]
        if not stamp.isdigit() or len(stamp) > 15:
            raise self._refuse("signature_malformed", label,
                               f"{TIMESTAMP_HEADER} must be Unix milliseconds in decimal")
        key = self.keys.get(system)
        if key is None:
            raise self._refuse("signature_unknown_system", label,
                               f"no key for system {system[:100]!r}")
        expected = signature(key, system, int(stamp), record.value).encode()
        if not hmac.compare_digest(expected, headers[SIGNATURE_HEADER]):
            raise self._refuse("signature_invalid", label,
                               f"the signature does not match {system}'s key")
        age = int(self.clock.now().timestamp() * 1000) - int(stamp)
        if age > self.max_age_ms or age < -self.max_skew_ms:
            raise self._refuse("signature_stale", label,
                               f"signed {age // 1000} s ago; accepted: "
                               f"{-self.max_skew_ms // 1000} to {self.max_age_ms // 1000} s")
        return system

    def _refuse(self, reason: str, label: str, detail: str) -> DeadLetter:
        self.refused(reason=reason, system=label).inc()
        return DeadLetter(reason, detail)


def load_systems(path: Path) -> dict[str, list[str]]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    systems = raw.get("systems")
    if not isinstance(systems, dict) or not all(
            isinstance(v, list) and all(isinstance(c, str) for c in v) for v in systems.values()):
        raise ValueError(f"{path}: expected 'systems: {{system id: [agency codes]}}'")
    return {str(k): list(v) for k, v in systems.items()}
