"""The revision that gives documents and signed files their agency fills the rows already
there (SQLite and PostgreSQL): a scanned file and a warehouse row of a dossier take that
dossier's agency, a signed result the agency of the dossier the warehouse filed it under; a
document held from elsewhere, naming no dossier, stays without one (national callers
only). After it, another tree reads none of them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from services.common.persistence.migrations import alembic_config, upgrade_async
from services.digitization import tables
from services.digitization.repository import DigitizationRepository

pytestmark = pytest.mark.integration
BEFORE = "0009"  # the revision before documents knew their agency
CAU_GIAY, HCMC_TREE = "000.01.02.H26", {"000.00.79.H29", "000.79.01.H29"}


async def test_rows_kept_before_get_the_agency_of_their_dossier(database_url: str) -> None:
    cfg = alembic_config("digitization", database_url, tables.metadata)
    await asyncio.to_thread(command.upgrade, cfg, BEFORE)
    engine = create_async_engine(database_url)
    now, code = datetime.now(UTC), f"{CAU_GIAY}-260401-0001"
    file = {"sha256": "", "size": 1, "pages": 1, "signer": "x", "signed_at": now,
            "created_at": now, "document_type": None}
    try:
        async with engine.begin() as c:  # only the columns the older revision has
            await c.execute(tables.dossiers.insert().values(
                code=code, agency_code=CAU_GIAY, procedure_code="BHXH.NH.03",
                component_count=1, received_at=now, applicant_ref="p1_old"))
            await c.execute(tables.components.insert().values(
                dossier_code=code, code="GKS", form="paper", document_ref="doc-scan",
                digitized_at=now, source="scanned"))
            await c.execute(tables.files.insert(), [
                {**file, "id": "doc-scan", "sha256": "a" * 64, "kind": "component"},
                {**file, "id": "doc-result", "sha256": "b" * 64, "kind": "signed"},
                {**file, "id": "doc-loose", "sha256": "c" * 64, "kind": "signed"}])
            await c.execute(tables.documents.insert(), [
                {"applicant_ref": "p1_old", "document_ref": ref, "dossier_code": dossier,
                 "component_code": None, "source": source, "stored_at": now,
                 "document_type": None}
                for ref, dossier, source in (("doc-scan", code, "scanned"),
                                             ("doc-result", code, "result"),
                                             ("doc-held", None, "national-database"))])
        await engine.dispose()
        await upgrade_async("digitization", database_url, tables.metadata)

        f, d = tables.files.c, tables.documents.c
        async with engine.connect() as c:
            files = {r.id: (r.dossier_code, r.agency_code) for r in await c.execute(
                select(f.id, f.dossier_code, f.agency_code))}
            documents = {r.document_ref: r.agency_code for r in await c.execute(
                select(d.document_ref, d.agency_code))}
        assert files == {"doc-scan": (code, CAU_GIAY), "doc-result": (code, CAU_GIAY),
                         "doc-loose": (None, None)}
        assert documents == {"doc-scan": CAU_GIAY, "doc-result": CAU_GIAY, "doc-held": None}

        repo = DigitizationRepository()
        async with engine.connect() as c:
            s = AsyncSession(bind=c)
            assert await repo.file(s, "doc-scan", {CAU_GIAY}) is not None
            assert await repo.file(s, "doc-scan", HCMC_TREE) is None
            assert await repo.file(s, "doc-loose", {CAU_GIAY}) is None
            assert await repo.file(s, "doc-loose", None) is not None
            assert await repo.warehouse(s, "p1_old", HCMC_TREE) == []
            assert {r["document_ref"] for r in await repo.warehouse(s, "p1_old", {CAU_GIAY})
                    } == {"doc-scan", "doc-result"}
            await s.close()
    finally:
        await engine.dispose()
