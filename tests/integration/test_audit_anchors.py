"""The audit chain keyed and anchored outside the database, over a real service and
database (SQLite and PostgreSQL): a row rewritten with every later hash recomputed as plain
SHA-256 (no key) is found at its seq, the newest rows deleted are found by the anchor, in
process and by the CLI; a chain written before keys still verifies and goes on keyed; the
runtime anchors periodically and at a clean stop; two replicas anchoring at once keep one
order."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import text

from services.common.persistence.audit import GENESIS, canonical, next_row
from services.common.persistence.migrations import alembic_config
from services.common.runtime import Runtime
from services.common.sealing import key_id
from services.common.settings import DEV_AUDIT_KEY
from services.intake.app import build
from services.intake.settings import IntakeSettings
from tests.integration.support import eventually, settings_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def cli_verify(database_url: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INTAKE_DATABASE_URL": database_url, "ONESTOP_VAR_DIR": str(tmp),
           "ONESTOP_LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "services.intake", "audit", "verify"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)



async def table_rows(runtime: Runtime) -> list[dict[str, Any]]:
    t = runtime.tables.audit
    async with runtime.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(sa.select(t).order_by(t.c.seq))
                                  ).mappings()]


async def put_back(runtime: Runtime, kept: list[dict[str, Any]]) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(sa.delete(runtime.tables.audit))
        await conn.execute(sa.insert(runtime.tables.audit), kept)


async def rechain_without_the_key(runtime: Runtime, start: int, *, drop_key: bool) -> None:
    """What a database administrator without ONESTOP_AUDIT_KEY can do: rewrite the row at
    seq `start` and recompute its hash and every later one with plain SHA-256 (the format
    is in the source), leaving its key id or turning the rows back into the unkeyed form."""
    t = runtime.tables.audit
    rows = await table_rows(runtime)
    rows[start - 1]["actor"] = "Nguyễn Giả Mạo"
    async with runtime.engine.begin() as conn:
        for i in range(start - 1, len(rows)):
            previous = rows[i - 1]["hash"] if i else GENESIS
            rows[i]["hash"] = hashlib.sha256(previous.encode() + canonical(rows[i])).hexdigest()
            await conn.execute(sa.update(t).where(t.c.seq == rows[i]["seq"]).values(
                actor=rows[i]["actor"], hash=rows[i]["hash"],
                key_id=None if drop_key else rows[i]["key_id"]))


async def read_rows(runtime: Runtime, n: int, prefix: str = "HN") -> None:
    for i in range(n):
        await runtime.audit.read(None, action="read.slip", dossier_code=f"{prefix}-{i}",
                                 actor="cb.an")


async def test_a_rewritten_or_truncated_chain_is_found_even_with_hashes_recomputed(
        database_url: str, tmp_path: Path) -> None:
    runtime = build(settings_for(IntakeSettings, "127.0.0.1:1", database_url, tmp_path))
    await runtime.migrate()
    try:
        await read_rows(runtime, 6)
        first = await runtime.audit.anchor()
        assert first is not None and first.seq == 6
        assert await runtime.audit.anchor() is None  # the head has not moved: no new line
        await read_rows(runtime, 2, "HCM")
        assert (await runtime.audit.anchor()).seq == 8  # type: ignore[union-attr]
        kept = await table_rows(runtime)
        assert {r["key_id"] for r in kept} == {key_id(DEV_AUDIT_KEY)}
        anchors = (tmp_path / "audit" / "intake.anchors").read_text().splitlines()
        assert len(anchors) == 2 and '"seq":8' in anchors[1]

        verdict = await runtime.audit.verify(chunk=3)
        assert verdict.ok and verdict.count == 8, verdict.describe()
        ok = await asyncio.to_thread(cli_verify, database_url, tmp_path)
        assert ok.returncode == 0 and "OK (8 rows; anchored up to seq 8" in ok.stdout, ok

        for drop_key in (False, True):
            await rechain_without_the_key(runtime, 3, drop_key=drop_key)
            verdict = await runtime.audit.verify(chunk=3)
            assert not verdict.ok and verdict.broken is not None
            assert (verdict.broken.seq, verdict.count) == (3, 2), verdict.describe()
            await put_back(runtime, kept)
            assert (await runtime.audit.verify()).ok

        # The newest rows deleted: the chain left is sound, the anchor says it was longer.
        async with runtime.engine.begin() as conn:
            await conn.execute(text("DELETE FROM audit_log WHERE seq > 6"))
        verdict = await runtime.audit.verify()
        assert not verdict.ok and verdict.broken is not None and verdict.broken.seq == 7
        assert "rows 7..8 missing" in verdict.broken.reason
        broken = await asyncio.to_thread(cli_verify, database_url, tmp_path)
        assert broken.returncode == 1
        assert "BROKEN at seq 7: rows 7..8 missing" in broken.stderr, broken
    finally:
        await runtime.engine.dispose()


async def test_a_chain_written_before_keys_still_verifies_and_goes_on_keyed(
        database_url: str, tmp_path: Path) -> None:
    runtime = build(settings_for(IntakeSettings, "127.0.0.1:1", database_url, tmp_path))
    # The database as the revision before left it, with rows the code before wrote.
    await asyncio.to_thread(command.upgrade, alembic_config(
        "intake", database_url, runtime.metadata), "0010")
    old: list[dict[str, Any]] = []
    for i in range(3):
        old.append(next_row(old[-1] if old else None,
                            at=datetime(2026, 12, 1, 9, tzinfo=UTC) + timedelta(minutes=i),
                            actor="cb.cu", action="read.slip", dossier_code=f"OLD-{i}",
                            target=None, address="10.0.0.1"))
    async with runtime.engine.begin() as conn:  # the columns of then: no key_id
        await conn.execute(sa.insert(runtime.tables.audit), [
            {k: v for k, v in row.items() if k != "key_id"} for row in old])
    await runtime.migrate()
    try:
        await read_rows(runtime, 2)
        assert (await runtime.audit.anchor()).seq == 5  # type: ignore[union-attr]
        kept = await table_rows(runtime)
        assert [r["key_id"] for r in kept] == [None] * 3 + [key_id(DEV_AUDIT_KEY)] * 2
        verdict = await runtime.audit.verify()
        assert verdict.ok and verdict.count == 5, verdict.describe()
        ok = await asyncio.to_thread(cli_verify, database_url, tmp_path)
        assert ok.returncode == 0 and "OK (5 rows;" in ok.stdout, ok
        # The keyed rows turned back into the old form are a rewrite, not old rows.
        await rechain_without_the_key(runtime, 4, drop_key=True)
        verdict = await runtime.audit.verify()
        assert verdict.broken is not None and verdict.broken.seq == 5, verdict.describe()
        await put_back(runtime, kept)
        # An old row rewritten and every later one with it: the anchor no longer matches.
        await rechain_without_the_key(runtime, 2, drop_key=True)
        verdict = await runtime.audit.verify()
        assert verdict.broken is not None and verdict.broken.seq == 5
        assert "a row of seq 1..5 was rewritten" in verdict.broken.reason
    finally:
        await runtime.engine.dispose()


def anchored(tmp_path: Path) -> list[int]:
    path = tmp_path / "audit" / "intake.anchors"
    return [int(line.split('"seq":')[1].split(",")[0])
            for line in path.read_text().splitlines()] if path.exists() else []


async def test_the_runtime_anchors_periodically_and_at_a_clean_stop(
        kafka_bootstrap: str, database_url: str, tmp_path: Path) -> None:
    settings = settings_for(IntakeSettings, kafka_bootstrap, database_url, tmp_path)
    settings.audit_anchor_seconds = 0.2
    runtime = build(settings)
    await runtime.start()
    try:
        await read_rows(runtime, 1)
        await eventually(lambda: anchored(tmp_path) == [1], "the periodic job anchors seq 1")
    finally:
        await runtime.stop()
    settings.audit_anchor_seconds = 3600  # the periodic job will not come round again
    runtime = build(settings)
    await runtime.start()
    try:
        await read_rows(runtime, 2)
        assert anchored(tmp_path) == [1]
    finally:
        await runtime.stop()
    assert anchored(tmp_path) == [1, 3]  # the head as the service left it
    checker = build(settings)
    try:
        assert (await checker.audit.verify()).describe().startswith(
            "OK (3 rows; anchored up to seq 3")
    finally:
        await checker.engine.dispose()


async def test_two_replicas_anchoring_at_once_keep_one_order(database_url: str,
                                                             tmp_path: Path) -> None:
    settings = settings_for(IntakeSettings, "127.0.0.1:1", database_url, tmp_path)
    replica_a, replica_b = build(settings), build(settings)
    await replica_a.migrate()

    async def work(runtime: Runtime, name: str) -> None:
        for i in range(12):
            await runtime.audit.read(None, action="read.slip", dossier_code=f"{name}-{i}",
                                     actor=name)
            await runtime.audit.anchor()

    try:
        await asyncio.gather(work(replica_a, "a"), work(replica_b, "b"))
        seqs = anchored(tmp_path)
        # Each anchor names the head when it was taken, under the chain's lock: never one
        # older than a line before it, the last one the last row.
        assert seqs == sorted(set(seqs)) and seqs[-1] == 24, seqs
        verdict = await replica_b.audit.verify()
        assert verdict.ok and verdict.count == 24, verdict.describe()
    finally:
        await replica_a.engine.dispose()
        await replica_b.engine.dispose()
