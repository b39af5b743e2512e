"""Personal columns are sealed at rest in every service that keeps them (SQLite and
PostgreSQL): a row written before the sealing revision is sealed by it, a row written after
through the repository is sealed as written, plain SQL finds no clear ID number, social
insurance code, phone or e-mail in either, and the service reads both back as they were.
The outbox's payloads of personal topics kept in clear before are sealed by the revision
that seals new ones, and opened again by its downgrade."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.topics import CONTACTS, INTAKE, INTAKE_PRIVATE
from services.common.persistence.db import make_engine, session_factory
from services.common.persistence.migrations import alembic_config, upgrade_async
from services.common.persistence.sealed_columns import (
    SealedJSON,
    SealedText,
    is_sealed,
    is_sealed_payload,
    open_payload,
    sealed_columns,
)
from services.digitization import tables as digitization_tables
from services.digitization.handlers import Digitizer
from services.digitization.repository import DigitizationRepository
from services.intake import tables as intake_tables
from services.intake.dossier import Dossier
from services.intake.repository import IntakeRepository
from services.notification import tables as notification_tables
from services.notification.repository import NotificationRepository
from services.processing import tables as processing_tables
from services.processing.repository import ProcessingRepository

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _person(n: int) -> dict[str, Any]:
    """A distinct applicant per row, so a clear value found names the row it came from."""
    return {"kind": "individual", "full_name": f"Trần Thị Bình {n}",
            "id_number": f"0791900{n:05d}", "social_insurance_code": f"79{n:08d}",
            "phone": f"09{n:08d}", "email": f"binh{n}@example.vn"}


def _secrets(person: dict[str, Any]) -> list[str]:
    return [person[k] for k in ("id_number", "social_insurance_code", "phone", "email")]


def _intake_row(code: str, person: dict[str, Any]) -> dict[str, Any]:
    return {"code": code, "agency_code": "BHXH-HN", "procedure_code": "1.001",
            "catalog_version": "2026.1", "channel": "counter", "return_channel": "counter",
            "status": "received", "received_at": NOW, "due_at": NOW + timedelta(days=5),
            "legal_time": {"days": 5}, "applicant_kind": "individual",
            "applicant_ref": f"ref-{code}", "applicant": person,
            "components": [{"code": "TK1"}], "updated_at": NOW}


def _parked(code: str, person: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "dossier_code": code, "occurred_at": NOW,
            "envelope": {"data": {"dossier_code": code, "applicant": person}},
            "parked_at": NOW}


@dataclass(frozen=True)
class Case:
    service: str
    metadata: sa.MetaData
    before: str  # the revision before the sealing one
    old_rows: Callable[[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]
    write: Callable[[AsyncSession, str, dict[str, Any]], Awaitable[None]]
    # What the service answers for the dossier, and what it must be.
    read: Callable[[AsyncSession, str], Awaitable[Any]]
    expected: Callable[[str, dict[str, Any]], Any]


async def _intake_write(s: AsyncSession, code: str, person: dict[str, Any]) -> None:
    repo = IntakeRepository()
    await repo.insert_dossier(s, Dossier(**_intake_row(code, person)))
    await repo.park(s, _parked(code, person))


async def _intake_read(s: AsyncSession, code: str) -> Any:
    repo = IntakeRepository()
    dossier = await repo.dossier(s, code)
    assert dossier is not None
    return dossier.applicant, [p["envelope"]["data"]["applicant"]
                               for p in await repo.parked_for(s, code)]


def _declaration(code: str, person: dict[str, Any]) -> dict[str, Any]:
    return {"dossier_code": code, "recorded_at": NOW,
            **{k: person[k] for k in ("full_name", "id_number", "social_insurance_code")}}


async def _digitization_read(s: AsyncSession, code: str) -> Any:
    # The handler's answer (GET .../declared), over the repository.
    # (declared() writes nothing: no outbox needed.)
    return await Digitizer(cast(Any, None), DigitizationRepository()).declared(s, code)


def _contact(code: str, person: dict[str, Any]) -> dict[str, Any]:
    return {"applicant_ref": f"ref-{code}", "phone": person["phone"],
            "email": person["email"], "updated_at": NOW}


async def _notification_read(s: AsyncSession, code: str) -> Any:
    found = await NotificationRepository().contacts(s, [f"ref-{code}"])
    return {k: found[f"ref-{code}"][k] for k in ("phone", "email")}


CASES = [
    Case("intake", intake_tables.metadata, "0009",
         lambda code, p: {"dossiers": [_intake_row(code, p)],
                          "parked_province_events": [_parked(code, p)]},
         _intake_write, _intake_read, lambda code, p: (p, [p])),
    Case("digitization", digitization_tables.metadata, "0006",
         lambda code, p: {"declarations": [_declaration(code, p)]},
         lambda s, code, p: DigitizationRepository().keep_declarations(
             s, [_declaration(code, p)]),
         _digitization_read,
         lambda code, p: {k: p[k] for k in ("full_name", "id_number", "social_insurance_code")}),
    Case("notification", notification_tables.metadata, "0004",
         lambda code, p: {"contacts": [_contact(code, p)]},
         lambda s, code, p: NotificationRepository().keep_contacts(s, [_contact(code, p)]),
         _notification_read, lambda code, p: {"phone": p["phone"], "email": p["email"]}),
    # Processing keeps what a letter needs: the name, no number, no contact.
    Case("processing", processing_tables.metadata, "0008",
         lambda code, p: {"applicants": [{"dossier_code": code, "applicant_ref": f"ref-{code}",
                                          "applicant": p}]},
         lambda s, code, p: ProcessingRepository().keep_applicants(
             s, [{"dossier_code": code, "applicant_ref": f"ref-{code}", "applicant": p}]),
         lambda s, code: ProcessingRepository().applicant(s, code),
         lambda code, p: {"kind": "individual", "full_name": p["full_name"]}),
]


def _plain(table: sa.Table) -> sa.Table:
    """The table as it was before the sealing revision: the sealed columns in clear."""
    def kind(column: sa.Column[Any]) -> Any:
        if isinstance(column.type, SealedJSON):
            return sa.JSON()
        return sa.Text() if isinstance(column.type, SealedText) else column.type
    return sa.Table(table.name, sa.MetaData(), *[sa.Column(c.name, kind(c))
                                                 for c in table.columns])


async def _raw_rows(s: AsyncSession, metadata: sa.MetaData) -> list[str]:
    """Every sealed column's stored text, by plain SQL (no type processing)."""
    found = []
    for table, columns in sealed_columns(metadata).items():
        for row in (await s.execute(sa.text(f"SELECT {', '.join(columns)} FROM {table}"))):
            found += [str(v) for v in row if v is not None]
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.service for c in CASES])
async def test_personal_columns_are_sealed_before_and_after_the_revision(
        case: Case, database_url: str) -> None:
    before_code, after_code = "HN-OLD-0001", "HN-NEW-0002"
    old, new = _person(1), _person(2)
    # A database as it was before the sealing revision, with a row in clear.
    cfg = alembic_config(case.service, database_url, case.metadata)
    await asyncio.to_thread(command.upgrade, cfg, case.before)
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    try:
        async with sessions() as s, s.begin():
            for name, rows in case.old_rows(before_code, old).items():
                await s.execute(_plain(case.metadata.tables[name]).insert(), rows)
        async with sessions() as s:
            clear = " ".join(await _raw_rows(s, case.metadata))
        assert old["id_number"] in clear or old["phone"] in clear  # the probe sees clear text
        await engine.dispose()

        await upgrade_async(case.service, database_url, case.metadata)
        async with sessions() as s, s.begin():
            await case.write(s, after_code, new)
        async with sessions() as s:
            raw = await _raw_rows(s, case.metadata)
        assert raw and all(is_sealed(v) for v in raw), raw
        stored = " ".join(raw)
        for value in _secrets(old) + _secrets(new):
            assert value not in stored
        async with sessions() as s:
            assert await case.read(s, before_code) == case.expected(before_code, old)
            assert await case.read(s, after_code) == case.expected(after_code, new)
            if case.service == "processing":  # what it needs no more is gone, not sealed
                for code in (before_code, after_code):
                    kept = json.dumps(await case.read(s, code))
                    assert "id_number" not in kept and "phone" not in kept
    finally:
        await engine.dispose()


async def test_outbox_payloads_kept_in_clear_are_sealed_by_the_revision(
        database_url: str) -> None:
    person = _person(3)
    clear = {INTAKE_PRIVATE.name: json.dumps({"data": {"applicant": person}}).encode(),
             CONTACTS.name: json.dumps({"data": {k: person[k] for k in ("phone", "email")}}
                                       ).encode(),
             INTAKE.name: b'{"data": {"applicant": {"ref": "pseudonym"}}}'}
    cfg = alembic_config("intake", database_url, intake_tables.metadata)
    await asyncio.to_thread(command.upgrade, cfg, "0010")  # the revision before
    engine = make_engine(database_url)
    outbox = intake_tables.runtime.outbox

    async def payloads() -> dict[str, bytes]:
        async with engine.connect() as conn:
            result = await conn.execute(sa.text("SELECT topic, payload FROM outbox"))
            return {r.topic: bytes(r.payload) for r in result}

    try:
        async with engine.begin() as conn:
            await conn.execute(outbox.insert(), [
                {"event_id": str(uuid.uuid4()), "topic": topic, "key": "HN-OLD-0003",
                 "event_type": "t", "payload": payload, "created_at": NOW}
                for topic, payload in clear.items()])
        await upgrade_async("intake", database_url, intake_tables.metadata)
        stored = await payloads()
        assert is_sealed_payload(stored[INTAKE_PRIVATE.name])
        assert is_sealed_payload(stored[CONTACTS.name])
        assert stored[INTAKE.name] == clear[INTAKE.name]  # nothing personal: as it was
        for value in _secrets(person):
            assert value.encode() not in b" ".join(stored.values())
        assert {t: open_payload(p) for t, p in stored.items()} == clear

        await asyncio.to_thread(command.downgrade, cfg, "0010")
        assert await payloads() == clear  # the relay of before publishes what is stored
    finally:
        await engine.dispose()
