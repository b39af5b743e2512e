"""Receiving a dossier: one path for the counter, post, online and provincial systems."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.catalog import Agency
from contracts.common import (
    ApplicantRef,
    Channel,
    ComponentRef,
    IndividualApplicant,
    LegalTime,
    OrganizationApplicant,
    Reason,
    ReturnChannel,
)
from contracts.events import ApplicantRecorded, DossierReceived
from services.common.bulk import upsert
from services.common.outbox import OutboxWriter
from services.intake import tables
from services.intake.rules import check_submission, dossier_code
from services.law.catalog import CatalogIndex, CatalogSet
from services.law.pseudonym import applicant_pseudonym
from services.law.workdays import TZ, WorkCalendar


class Rejected(Exception):
    """Nothing was recorded: every problem found, answered over HTTP or on the feedback
    topic as it is."""

    def __init__(self, problems: list[Reason]) -> None:
        super().__init__(problems)
        self.problems = problems


@dataclass
class Submission:
    agency_code: str
    procedure_code: str
    channel: Channel
    return_channel: ReturnChannel
    applicant: IndividualApplicant | OrganizationApplicant
    components: list[ComponentRef]
    received_at: datetime
    submission_id: str | None = None
    code: str | None = None  # provinces bring their own code
    origin_system: str | None = None
    officer: str | None = None
    channel_reference: str | None = None


class Receiver:
    def __init__(self, catalogs: CatalogSet, calendar: WorkCalendar, outbox: OutboxWriter,
                 pseudonym_key: str, reuse_verified: bool = False) -> None:
        self.catalogs = catalogs
        self.calendar = calendar
        self.outbox = outbox
        self.key = pseudonym_key
        self._calendars: dict[str, WorkCalendar] = {}
        # Whether reused components were checked against the warehouse before receipt.
        self.reuse_verified = reuse_verified

    @property
    def catalog(self) -> CatalogIndex:
        """The newest catalogue: what clients list and what new rules are written in."""
        return self.catalogs.latest

    def catalog_on(self, at: datetime) -> CatalogIndex:
        """The catalogue in force on the day of receipt, in Vietnam."""
        return self.catalogs.in_force(at.astimezone(TZ).date())

    def calendar_for(self, agency: Agency) -> WorkCalendar:
        """The agency's own office hours and closures on top of the national calendar."""
        found = self._calendars.get(agency.code)
        if found is None:
            base = self.calendar.rules
            found = WorkCalendar(replace(
                base, opens=agency.office_hours.opens, closes=agency.office_hours.closes,
                extra_days_off=base.extra_days_off | frozenset(agency.closures)))
            self._calendars[agency.code] = found
        return found

    async def next_code(self, session: AsyncSession, agency_code: str, at: datetime) -> str:
        """The sequence lives in the database, so replicas never share or skip a number."""
        day = at.astimezone(TZ).date()
        t = tables.code_sequences
        # One atomic statement: the first number of a day cannot be taken twice by two
        # replicas racing to create the day's row, and the row lock orders the rest.
        statement = upsert(session, t).values(agency_code=agency_code, day=day, last=1)
        statement = statement.on_conflict_do_update(index_elements=[t.c.agency_code, t.c.day],
                                                    set_={"last": t.c.last + 1})
        last = (await session.execute(statement.returning(t.c.last))).scalar_one()
        return dossier_code(agency_code, day, last)

    async def existing(self, session: AsyncSession, *, code: str | None = None,
                       submission_id: str | None = None) -> dict[str, Any] | None:
        t = tables.dossiers
        cond = t.c.code == code if code else t.c.submission_id == submission_id
        row = (await session.execute(select(t).where(cond))).mappings().first()
        return dict(row) if row else None

    async def record(self, session: AsyncSession, sub: Submission, now: datetime, *,
                     status: str, due_at: datetime, legal_time: LegalTime,
                     catalog_version: str, clock_started_at: datetime | None,
                     reasons: list[Reason] | None = None) -> dict[str, Any]:
        """Write the dossier row (received or refused), with a code if it has none."""
        code = sub.code or await self.next_code(session, sub.agency_code, sub.received_at)
        row = {
            "code": code, "agency_code": sub.agency_code, "procedure_code": sub.procedure_code,
            "catalog_version": catalog_version, "channel": sub.channel.value,
            "return_channel": sub.return_channel.value, "status": status,
            "received_at": sub.received_at, "due_at": due_at,
            "legal_time": legal_time.model_dump(mode="json"),
            "applicant_kind": sub.applicant.kind,
            "applicant_ref": applicant_pseudonym(self.key, sub.applicant),
            "applicant": sub.applicant.model_dump(mode="json"),
            "components": [{**c.model_dump(mode="json"),
                            **({"reuse_verified": self.reuse_verified} if c.reused else {})}
                           for c in sub.components],
            "submission_id": sub.submission_id, "origin_system": sub.origin_system,
            "updated_at": now, "clock_started_at": clock_started_at, "officer": sub.officer,
            "supplement_request": None,
            "reasons": [r.model_dump(mode="json") for r in reasons] if reasons else None,
            "channel_reference": sub.channel_reference,
        }
        await session.execute(tables.dossiers.insert().values(**row))
        return row

    async def receive(self, session: AsyncSession, sub: Submission, now: datetime
                      ) -> dict[str, Any]:
        catalog = self.catalog_on(sub.received_at)
        problems, agency, procedure = check_submission(
            catalog, agency_code=sub.agency_code, procedure_code=sub.procedure_code,
            applicant_kind=sub.applicant.kind, components=sub.components,
            received_at=sub.received_at, now=now, applicant=sub.applicant)
        if problems or agency is None or procedure is None:
            raise Rejected(problems)
        legal_time = catalog.legal_time(procedure, sub.applicant.kind)
        due_at = self.calendar_for(agency).due_at(sub.received_at, legal_time)
        row = await self.record(session, sub, now, status="received", due_at=due_at,
                                legal_time=legal_time, catalog_version=catalog.version,
                                clock_started_at=sub.received_at)
        code, ref = row["code"], row["applicant_ref"]
        await self.outbox.emit(session, topics.INTAKE, DossierReceived(
            dossier_code=code, agency_code=sub.agency_code, procedure_code=sub.procedure_code,
            catalog_version=catalog.version, channel=sub.channel,
            return_channel=sub.return_channel, received_at=sub.received_at, due_at=due_at,
            legal_time=legal_time, applicant=ApplicantRef(kind=sub.applicant.kind, ref=ref),
            components=sub.components, origin_system=sub.origin_system,
            channel_reference=sub.channel_reference if sub.channel == Channel.postal else None),
            sub.agency_code)
        await self.outbox.emit(session, topics.INTAKE_PRIVATE, ApplicantRecorded(
            dossier_code=code, applicant_ref=ref, applicant=sub.applicant), sub.agency_code)
        return row


def public_view(row: dict[str, Any]) -> dict[str, Any]:
    """What the API answers about a dossier (the applicant's numbers are not echoed)."""
    return {
        "dossier_code": row["code"], "status": row["status"],
        "agency_code": row["agency_code"], "procedure_code": row["procedure_code"],
        "channel": row["channel"], "return_channel": row["return_channel"],
        "received_at": row["received_at"], "due_at": row["due_at"],
        "legal_time": row["legal_time"], "catalog_version": row["catalog_version"],
        "components": row["components"], "applicant_ref": row["applicant_ref"],
        "supplement_request": row.get("supplement_request"), "reasons": row.get("reasons"),
        "channel_reference": row.get("channel_reference"),
    }
