"""Digitization applies every DossierReceived it is given without blocking the dossier:
a component code repeated by the sender is taken once (it used to raise IntegrityError,
dead-letter the receipt and leave the dossier waiting forever), and the same dossier
delivered again under another event id (a republish after a broker reset) changes nothing."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from contracts import topics
from contracts.common import ComponentRef
from contracts.events import (
    ComponentDigitized,
    DossierDigitized,
    DossierReceived,
    SupplementReceived,
)
from services.common.messaging.consumer import Context
from services.common.runtime import Runtime
from services.digitization import tables
from services.digitization.app import build
from services.digitization.settings import DigitizationSettings
from tests.integration.support import settings_for, started
from tests.integration.test_digitization_scope import received as a_receipt

pytestmark = pytest.mark.integration
AGENCY = "000.01.02.H26"


@contextlib.asynccontextmanager
async def digitization(kafka_bootstrap: str, database_url: str,
                       tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = build(settings_for(DigitizationSettings, kafka_bootstrap, database_url, tmp_path))
    # The handler is called here as the consumer would call it; the real consumer would also
    # apply every other test's DossierReceived from the shared broker (earliest offset).
    runtime.subscriptions = []
    await started(runtime)
    try:
        yield runtime
    finally:
        await runtime.stop()


def received(code: str, components: list[ComponentRef]) -> DossierReceived:
    return a_receipt(code, AGENCY, "p1_digitization_test_ref", *components)


async def deliver(runtime: Runtime, event: DossierReceived) -> None:
    """One delivery as the batch consumer makes it: a new envelope, one transaction."""
    envelope = runtime.outbox.envelope(event, event.agency_code)
    async with runtime.transaction() as s:
        await runtime.app.state.digitizer.apply_batch(
            s, [(Context(session=s, envelope=envelope, topic=topics.INTAKE.name), event)])


async def outbox_types(runtime: Runtime, code: str) -> list[str]:
    t = runtime.tables.outbox
    async with runtime.sessions() as s:
        return list((await s.scalars(select(t.c.event_type).where(t.c.key == code)
                                     .order_by(t.c.seq))).all())


async def test_repeated_codes_are_taken_once_and_redelivery_changes_nothing(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    code = f"{AGENCY}-260302-{unique}"
    event = received(code, [
        ComponentRef(code="GKS", form="electronic", document_ref="doc-first"),
        ComponentRef(code="GKS", form="paper"),
        ComponentRef(code="GCN-NV", form="electronic", document_ref="doc-second"),
        ComponentRef(code="GCN-NV", form="electronic", document_ref="doc-third")])
    async with digitization(kafka_bootstrap, database_url, tmp_path) as runtime:
        await deliver(runtime, event)
        async with runtime.sessions() as s:
            view = await runtime.app.state.digitizer.view(s, code)
            count = await s.scalar(select(tables.dossiers.c.component_count)
                                   .where(tables.dossiers.c.code == code))
        # First occurrence wins: GKS electronic (so the dossier is complete), GCN-NV doc-second.
        assert sorted((c["code"], c["form"], c["document_ref"]) for c in view["components"]) \
            == [("GCN-NV", "electronic", "doc-second"), ("GKS", "electronic", "doc-first")]
        assert count == 2 and view["digitized_at"] is not None
        first = await outbox_types(runtime, code)
        assert first == [ComponentDigitized.event_type] * 2 + [DossierDigitized.event_type]

        # Redelivered under a new event id, and even with other components: no error, no
        # second row, no second event.
        await deliver(runtime, event)
        await deliver(runtime, received(code, [ComponentRef(code="GKS", form="paper")]))
        async with runtime.sessions() as s:
            again = await runtime.app.state.digitizer.view(s, code)
            rows = await s.scalar(select(func.count()).select_from(tables.dossiers)
                                  .where(tables.dossiers.c.code == code))
        assert rows == 1 and again["digitized_at"] == view["digitized_at"]
        assert sorted(map(str, again["components"])) == sorted(map(str, view["components"]))
        assert await outbox_types(runtime, code) == first


async def test_two_deliveries_in_one_transaction_apply_once(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    """A batch holding both the original and its republished copy (new ids, one batch)."""
    code = f"{AGENCY}-260303-{unique}"
    event = received(code, [ComponentRef(code="GKS", form="paper"),
                            ComponentRef(code="GKS", form="paper")])
    async with digitization(kafka_bootstrap, database_url, tmp_path) as runtime:
        async with runtime.transaction() as s:
            await runtime.app.state.digitizer.apply_batch(s, [(Context(
                session=s, envelope=runtime.outbox.envelope(event, AGENCY),
                topic=topics.INTAKE.name), event) for _ in range(2)])
        async with runtime.sessions() as s:
            view = await runtime.app.state.digitizer.view(s, code)
        assert [c["code"] for c in view["components"]] == ["GKS"]
        assert view["digitized_at"] is None  # paper: waits for the officer, not forever
        async with runtime.transaction() as s:
            done = await runtime.app.state.digitizer.mark_paper_digitized(s, code, "GKS", None)
        assert done["dossier_digitized"] is True


async def test_receipt_and_supplement_in_one_batch(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    """A supplement in the same batch as its receipt: applied in order, written once. Its
    paper component replaces the one of the same code and waits for a scan; its electronic
    one is linked at once; the dossier waits again until the new paper is scanned."""
    code = f"{AGENCY}-260304-{unique}"
    receipt = received(code, [ComponentRef(code="GKS", form="electronic",
                                           document_ref="doc-gks")])
    supplement = SupplementReceived(
        dossier_code=code, received_at=datetime.now(UTC), complete=True,
        components=[ComponentRef(code="GKS", form="paper"),
                    ComponentRef(code="BS-E", form="electronic", document_ref="doc-bs")])
    async with digitization(kafka_bootstrap, database_url, tmp_path) as runtime:
        async with runtime.transaction() as s:
            await runtime.app.state.digitizer.apply_batch(s, [(Context(
                session=s, envelope=runtime.outbox.envelope(e, AGENCY),
                topic=topics.INTAKE.name), e) for e in (receipt, supplement)])
        async with runtime.sessions() as s:
            view = await runtime.app.state.digitizer.view(s, code)
            count = await s.scalar(select(tables.dossiers.c.component_count)
                                   .where(tables.dossiers.c.code == code))
        comps = {c["code"]: c for c in view["components"]}
        assert count == 2 and view["digitized_at"] is None
        assert comps["GKS"]["form"] == "paper" and comps["GKS"]["digitized_at"] is None
        assert comps["BS-E"]["source"] == "electronic" and comps["BS-E"]["digitized_at"]
        # Digitized on receipt (GKS electronic), then again after the supplement's BS-E.
        assert await outbox_types(runtime, code) == [
            ComponentDigitized.event_type, DossierDigitized.event_type,
            ComponentDigitized.event_type]
        async with runtime.transaction() as s:
            done = await runtime.app.state.digitizer.mark_paper_digitized(s, code, "GKS",
                                                                          "doc-gks-2")
        assert done["dossier_digitized"] is True
        assert (await outbox_types(runtime, code))[-1] == DossierDigitized.event_type
        async with runtime.sessions() as s:
            rows = await runtime.app.state.digitizer.warehouse(s, "p1_digitization_test_ref")
        assert {"doc-gks", "doc-bs", "doc-gks-2"} <= {r["document_ref"] for r in rows}
