"""The audit trail over a real service and database: counter actions and slip reads over
HTTP each leave one row (who, what, which dossier, from where), failed or replayed requests
none; two replicas reading at once keep one unforked chain; `audit verify` says OK, then,
after one row is edited with SQL, fails at exactly that row, in process and as the CLI.
Digitization's signing and a signed file's download are recorded the same way.
(Keys and anchors: tests/integration/test_audit_anchors.py.)"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import httpx
import img2pdf
import pytest
from PIL import Image
from sqlalchemy import text

from services.common.runtime import Runtime
from services.digitization.app import build as build_digitization
from services.digitization.settings import DigitizationSettings
from services.intake.app import build
from services.intake.settings import IntakeSettings
from tests.auth import AUTH
from tests.integration.support import settings_for
from tests.integration.test_audit_anchors import cli_verify

pytestmark = pytest.mark.integration
AGENCY = "000.00.01.H26"
OFFICER, CLIENT_HOST = "Lê Thị Mai", "10.1.2.3"


def pension(n: str) -> dict:
    return {"agency_code": AGENCY, "procedure_code": "BHXH.DH.01", "channel": "counter",
            "applicant": {"kind": "individual", "full_name": "Đỗ Văn Hùng",
                          "id_number": "001060001234"},
            "components": [{"code": "SO-BHXH", "form": "paper"},
                           {"code": "QD-NV", "form": "paper"}],
            "submission_id": f"audit-{n}", "officer": OFFICER}


def client(runtime: Runtime) -> httpx.AsyncClient:
    # No broker needed: the audit trail is the database's; the outbox just waits.
    return httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=runtime.app,
                                                           client=(CLIENT_HOST, 4321)),
                             base_url="http://intake")


async def rows(runtime: Runtime) -> list[dict]:
    async with runtime.engine.connect() as conn:
        result = await conn.execute(text(
            "SELECT seq, actor, action, dossier_code, target, address FROM audit_log "
            "ORDER BY seq"))
        return [dict(r) for r in result.mappings()]


async def test_actions_and_reads_are_chained_and_an_edit_is_found(
        database_url: str, tmp_path: Path, unique: str) -> None:
    settings = settings_for(IntakeSettings, "127.0.0.1:1", database_url, tmp_path)
    replica_a, replica_b = build(settings), build(settings)
    await replica_a.migrate()
    try:
        async with client(replica_a) as a, client(replica_b) as b:
            made = await a.post("/api/v1/dossiers", json=pension(unique))
            assert made.status_code == 201, made.text
            code = made.json()["dossier_code"]
            assert (await a.get(f"/api/v1/dossiers/{code}/receipt.pdf")).status_code == 200
            ask = await a.post(f"/api/v1/dossiers/{code}/supplement-request", json={
                "requested_by": "Trần Văn Nam",
                "items": [{"component_code": "QD-NV", "problem_vi": "Thiếu quyết định"}]})
            assert ask.status_code == 201, ask.text
            slip = await a.get(f"/api/v1/dossiers/{code}/supplement-request.pdf")
            assert slip.status_code == 200
            key = {"Idempotency-Key": f"audit-{unique}"}
            gone = await a.post(f"/api/v1/dossiers/{code}/withdrawal", json={}, headers=key)
            assert gone.status_code == 200, gone.text

            # Nothing done, nothing disclosed: no row.
            replay = await a.post(f"/api/v1/dossiers/{code}/withdrawal", json={}, headers=key)
            assert replay.headers.get("Idempotent-Replay") == "true"
            assert (await a.post(f"/api/v1/dossiers/{code}/withdrawal", json={})
                    ).status_code == 409
            assert (await a.get("/api/v1/dossiers/NOPE-1/receipt.pdf")).status_code == 404
            assert (await a.get(f"/api/v1/dossiers/{code}")).status_code == 200  # no PII

            logged = await rows(replica_a)
            assert [(r["seq"], r["actor"], r["action"], r["target"]) for r in logged] == [
                (1, OFFICER, "dossier.receive", None),
                (2, "dev-counter_officer", "read.slip", "receipt.pdf"),
                (3, "Trần Văn Nam", "dossier.supplement_request", None),
                (4, "dev-counter_officer", "read.slip", "supplement-request.pdf"),
                (5, "dev-counter_officer", "dossier.withdraw", None)]
            assert {r["dossier_code"] for r in logged} == {code}
            assert {r["address"] for r in logged} == {CLIENT_HOST}

            # Two replicas appending at once: one chain, no seq taken twice.
            reads = await asyncio.gather(*(c.get(f"/api/v1/dossiers/{code}/receipt.pdf")
                                           for c in (a, b) * 6))
            assert {r.status_code for r in reads} == {200}

        verdict = await replica_b.audit.verify(chunk=4)  # chunked: crosses chunk borders
        assert verdict.ok and verdict.count == 17, verdict.describe()
        ok = await asyncio.to_thread(cli_verify, database_url, tmp_path)
        assert ok.returncode == 0, ok.stderr
        assert "OK (17 rows;" in ok.stdout

        async with replica_a.engine.begin() as conn:
            await conn.execute(text("UPDATE audit_log SET actor = 'Nguyễn Giả Mạo' "
                                    "WHERE seq = 3"))
        verdict = await replica_a.audit.verify()
        assert not verdict.ok and verdict.broken is not None
        assert verdict.broken.seq == 3 and verdict.count == 2
        broken = await asyncio.to_thread(cli_verify, database_url, tmp_path)
        assert broken.returncode == 1
        assert "BROKEN at seq 3" in broken.stderr, (broken.stdout, broken.stderr)
    finally:
        await replica_a.engine.dispose()
        await replica_b.engine.dispose()


async def test_signing_and_reading_a_signed_file_are_recorded(database_url: str,
                                                             tmp_path: Path) -> None:
    settings = settings_for(DigitizationSettings, "127.0.0.1:1", database_url, tmp_path)
    settings.workers = 0  # threads: no process pool for one small PDF
    runtime = build_digitization(settings)
    await runtime.migrate()
    page = io.BytesIO()
    Image.new("RGB", (620, 877), (255, 255, 255)).save(page, format="PNG")
    try:
        async with httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(
                app=runtime.app, client=(CLIENT_HOST, 4321)), base_url="http://d") as http:
            signed = await http.post("/api/v1/sign", content=img2pdf.convert(page.getvalue()),
                                     headers={"content-type": "application/pdf"})
            assert signed.status_code == 201, signed.text
            document_id = signed.json()["document_id"]
            assert (await http.get(f"/api/v1/documents/{document_id}")).status_code == 200
        assert [(r["action"], r["target"], r["address"]) for r in await rows(runtime)] == [
            ("document.sign", document_id, CLIENT_HOST),
            ("read.document", document_id, CLIENT_HOST)]
        assert (await runtime.audit.verify()).count == 2
    finally:
        await runtime.stop()
