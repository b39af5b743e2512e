"""Digitization's repository in memory: the methods recording a scan calls (the signed
file, the dossier and its components, the warehouse), and an outbox that keeps what is
emitted, so the use case runs without a database."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import Event
from contracts.topics import Topic
from services.common.clock import Clock
from services.common.messaging.outbox import OutboxWriter
from services.common.persistence.db import runtime_tables
from services.digitization.document_set import ComponentScan, DocumentSet
from services.digitization.repository import DigitizationRepository

# The fakes take no session; the use case only passes it through.
NO_SESSION = cast(AsyncSession, None)


class RecordingOutbox(OutboxWriter):
    """Keeps (topic, event, agency) instead of writing outbox rows."""

    def __init__(self, clock: Clock) -> None:
        super().__init__("digitization", runtime_tables(MetaData()), clock)
        self.emitted: list[tuple[str, Event, str]] = []

    async def emit(self, session: AsyncSession, topic: Topic, event: Event,
                   agency_code: str) -> Any:
        self.emitted.append((topic.name, event, agency_code))
        return self.envelope(event, agency_code)


class FakeDigitizationRepository(DigitizationRepository):
    """What recording a scan reads and writes, kept in dicts. Other methods are the real
    ones and fail without a session: a use case calling them needs its own fake."""

    def __init__(self) -> None:
        self.sets: dict[str, DocumentSet] = {}
        self.scans: dict[tuple[str, str], ComponentScan] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.documents: list[dict[str, Any]] = []

    def receive(self, dossier: DocumentSet, components: list[ComponentScan]) -> None:
        """A dossier as a receipt leaves it (the batch use case's part, not faked here)."""
        self.sets[dossier.code] = dossier
        for comp in components:
            self.scans[(comp.dossier_code, comp.code)] = comp

    async def add_file(self, s: AsyncSession, row: dict[str, Any]) -> None:
        self.files.setdefault(row["id"], dict(row))

    async def dossier(self, s: AsyncSession, code: str, lock: bool = False
                      ) -> DocumentSet | None:
        found = self.sets.get(code)
        return None if found is None else replace(found)

    async def component(self, s: AsyncSession, code: str,
                        component: str) -> ComponentScan | None:
        found = self.scans.get((code, component))
        return None if found is None else replace(found)

    async def components(self, s: AsyncSession, code: str) -> list[ComponentScan]:
        return [replace(c) for key, c in sorted(self.scans.items()) if key[0] == code]

    async def finish_component(self, s: AsyncSession, code: str, component: str,
                               values: dict[str, Any]) -> bool:
        found = self.scans.get((code, component))
        if found is None or found.finished:
            return False
        self.scans[(code, component)] = replace(found, **values)
        return True

    async def mark_dossier(self, s: AsyncSession, code: str, at: datetime) -> None:
        self.sets[code].digitized_at = at

    async def store_documents(self, s: AsyncSession, rows: list[dict[str, Any]]) -> None:
        known = {(d["applicant_ref"], d["document_ref"]) for d in self.documents}
        self.documents += [r for r in rows
                           if (r["applicant_ref"], r["document_ref"]) not in known]
