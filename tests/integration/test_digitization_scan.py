"""Digitization end to end over the real broker and real HTTP: a dossier received on the
intake topic opens its components (electronic linked at once, reused linked to the
warehouse, paper waiting); bad uploads are refused with nothing changed; page images and a
PDF become signed files that verify, serve and land in the applicant's warehouse; a fragile
original left undigitized by the leader does not hold the dossier; a result signed through
/sign and issued on the results topic joins the warehouse; a supplement opens new components."""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import img2pdf
import pytest
from aiokafka import AIOKafkaProducer
from PIL import Image
from sqlalchemy import func, select

from contracts import topics
from contracts.common import ApplicantRef, Channel, ComponentRef, LegalTime, ReturnChannel
from contracts.events import (
    ComponentDigitized,
    DossierDigitized,
    DossierReceived,
    Event,
    ResultIssued,
    SupplementReceived,
)
from services.common.messaging.outbox import encode
from services.common.runtime import Runtime
from services.digitization import tables
from services.digitization.app import build
from services.digitization.settings import DigitizationSettings
from tests.auth import AUTH
from tests.integration.support import eventually, read_topic, settings_for, started
from tests.integration.test_warehouse import serving

pytestmark = pytest.mark.integration
AGENCY = "000.01.02.H26"
LIMIT = 600_000


def png(size: tuple[int, int] = (620, 877), shade: int = 255) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (shade, shade, shade)).save(out, format="PNG")
    return out.getvalue()


async def publish(runtime: Runtime, bootstrap: str, *events: tuple[topics.Topic, Event]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for topic, event in events:
            await producer.send_and_wait(topic.name, encode(runtime.outbox.envelope(
                event, AGENCY)), key=event.dossier_code.encode())
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def digitization(kafka_bootstrap: str, database_url: str, tmp_path: Path,
                       **overrides: Any) -> AsyncIterator[tuple[Runtime, str]]:
    """The service on a real HTTP server; `overrides` set its settings (keys, limits)."""
    settings = settings_for(DigitizationSettings, kafka_bootstrap, database_url, tmp_path)
    settings.scan_max_bytes = LIMIT
    settings.workers = 1  # a real process pool
    for name, value in overrides.items():
        setattr(settings, name, value)
    runtime = build(settings)
    await started(runtime)
    try:
        async with serving(runtime) as url:
            yield runtime, url
    finally:
        await runtime.stop()


async def outbox_count(runtime: Runtime, code: str) -> int:
    t = runtime.tables.outbox
    async with runtime.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(t).where(t.c.key == code))
                   or 0)


async def files_count(runtime: Runtime) -> int:
    async with runtime.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(tables.files)) or 0)


async def test_a_dossier_is_digitized_signed_verified_and_kept(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    code = f"{AGENCY}-260401-{unique}"
    applicant = f"p1_scan_{unique}"
    at = datetime.now(UTC) - timedelta(hours=1)
    received = DossierReceived(
        dossier_code=code, agency_code=AGENCY, procedure_code="BHXH.NH.03",
        catalog_version="2025.07", channel=Channel.counter, return_channel=ReturnChannel.counter,
        received_at=at, due_at=at + timedelta(days=7),
        legal_time=LegalTime(value=5, unit="working_days"),
        applicant=ApplicantRef(kind="individual", ref=applicant),
        components=[ComponentRef(code="GKS", form="paper"),
                    ComponentRef(code="TK1", form="paper"),
                    ComponentRef(code="GCN", form="electronic",
                                 document_ref=f"doc-el-{unique}"),
                    ComponentRef(code="SO-BHXH", form="electronic",
                                 document_ref=f"doc-held-{unique}", reused=True),
                    ComponentRef(code="BAN-GOC", form="paper")])
    async with digitization(kafka_bootstrap, database_url, tmp_path) as (runtime, url), \
            httpx.AsyncClient(auth=AUTH, base_url=url, timeout=60) as http:
        # Held before (a national database), then reused by this dossier: linked, not copied.
        assert (await http.post(f"/api/v1/warehouse/{applicant}/documents", json={
            "document_ref": f"doc-held-{unique}"})).status_code == 201
        await publish(runtime, kafka_bootstrap, (topics.INTAKE, received))

        async def known() -> bool:
            return (await http.get(f"/api/v1/dossiers/{code}")).status_code == 200
        await eventually(known, "digitization to know the dossier")
        view = (await http.get(f"/api/v1/dossiers/{code}")).json()
        by_code = {c["code"]: c for c in view["components"]}
        assert by_code["GCN"]["source"] == "electronic" and by_code["GCN"]["digitized_at"]
        assert by_code["SO-BHXH"]["source"] == "reused"
        assert by_code["GKS"]["digitized_at"] is None and view["digitized_at"] is None
        scan = f"/api/v1/dossiers/{code}/components/GKS/scan"

        # --- refused, nothing changed ---
        before = (await outbox_count(runtime, code), await files_count(runtime))
        refusals = [
            (await http.post(scan, files={"pages": ("a.png", b"hello, not an image")}),
             415, "unsupported_file"),
            (await http.post(scan, files={"pages": ("a.png", b"")}), 422, "empty_file"),
            (await http.post(scan, data={"officer": "tnhs-01"}), 422, "no_pages"),
            (await http.post(scan, files=[("pages", ("a.pdf", img2pdf.convert(png()))),
                                          ("pages", ("b.png", png()))]), 422, "pdf_alone"),
            # The key is the token's: a form naming another officer is refused.
            (await http.post(scan, files={"pages": ("a.png", png())},
                             data={"officer": "tnhs-01"}), 403, "officer_not_caller"),
            (await http.post(scan, files={"pages": ("x.png", b"\x89PNG\r\n\x1a\nbroken")}),
             422, "unreadable_file"),
            (await http.post(f"/api/v1/dossiers/{code}/components/NOPE/scan",
                             files={"pages": ("a.png", png())}), 404, "not_found"),
            (await http.post(f"/api/v1/dossiers/{code}-X/components/GKS/scan",
                             files={"pages": ("a.png", png())}), 404, "not_found"),
            # Over the limit, told by Content-Length: refused before the body is read.
            (await http.post(scan, files={"pages": ("big.png", b"\x89PNG" + bytes(LIMIT))}),
             413, "body_too_large"),
        ]
        for answer, status, problem in refusals:
            assert answer.status_code == status, answer.text
            assert answer.json()["problems"][0]["code"] == problem, answer.text

        # Over the limit with no Content-Length (streamed): refused while it streams.
        async def chunks() -> AsyncIterator[bytes]:
            yield b"--b\r\nContent-Disposition: form-data; name=\"pages\"; filename=\"a\"\r\n\r\n"
            for _ in range(20):
                yield bytes(64 * 1024)
        streamed = await http.post(scan, content=chunks(), headers={
            "content-type": "multipart/form-data; boundary=b"})
        assert streamed.status_code == 413
        # Other routes keep the JSON limit (1 MiB), far below the scan limit... and above it.
        big_json = await http.post(f"/api/v1/dossiers/{code}/components/BAN-GOC/not-digitized",
                                   content=b'{"decided_by": "' + b"x" * 1_100_000 + b'"}',
                                   headers={"content-type": "application/json"})
        assert big_json.status_code == 413
        assert (await outbox_count(runtime, code), await files_count(runtime)) == before
        assert (await http.get(f"/api/v1/dossiers/{code}")).json() == view

        # --- two page images: one signed PDF ---
        done = await http.post(scan, files=[("pages", ("p1.png", png())),
                                            ("pages", ("p2.jpg", png(shade=250)))],
                               data={"officer": "dev-counter_officer"})  # the caller itself
        assert done.status_code == 201, done.text
        gks = done.json()
        assert gks["pages"] == 2 and gks["signer"] == "dev-counter_officer"
        assert gks["document_id"] == f"doc-{gks['sha256'][:16]}"
        assert gks["dossier_digitized"] is False
        again = await http.post(scan, files={"pages": ("p1.png", png())})
        assert again.status_code == 409

        # --- one PDF ---
        tk1 = (await http.post(f"/api/v1/dossiers/{code}/components/TK1/scan",
                               files={"pages": ("form.pdf", img2pdf.convert(png()))})).json()
        assert tk1["pages"] == 1 and tk1["dossier_digitized"] is False

        # --- the fragile original: the leader's decision, recorded; the dossier completes ---
        fragile = await http.post(f"/api/v1/dossiers/{code}/components/BAN-GOC/not-digitized",
                                  json={"decided_by": "ld.le", "decision":
                                        "Bản gốc dễ rách, lãnh đạo quyết định không số hóa"})
        assert fragile.status_code == 200 and fragile.json()["dossier_digitized"] is True
        view = (await http.get(f"/api/v1/dossiers/{code}")).json()
        ban_goc = next(c for c in view["components"] if c["code"] == "BAN-GOC")
        assert ban_goc["not_digitized"]["decided_by"] == "ld.le" and view["digitized_at"]

        # --- on the digitization topic, through the outbox relay ---
        found = await read_topic(kafka_bootstrap, topics.DIGITIZATION.name,
                                 lambda body, _: body.get("subject") == code, count=5)
        events = [(b["type"], b["data"]) for b, _ in found]
        comps = {d["component_code"]: d for t, d in events
                 if t == ComponentDigitized.event_type}
        assert comps["GCN"]["source"] == "electronic"
        assert comps["SO-BHXH"]["source"] == "reused"
        assert comps["GKS"] | {"digitized_at": None} == comps["GKS"] | {
            "source": "scanned", "signed": True, "pages": 2, "sha256": gks["sha256"],
            "signer": gks["signer"], "document_ref": gks["document_id"], "digitized_at": None}
        assert "BAN-GOC" not in comps
        dossier_done = [d for t, d in events if t == DossierDigitized.event_type]
        assert dossier_done[0]["component_count"] == 5
        assert dossier_done[0]["not_digitized"] == ["BAN-GOC"]

        # --- served and verified ---
        pdf = await http.get(f"/api/v1/documents/{gks['document_id']}")
        assert pdf.headers["content-type"] == "application/pdf"
        assert hashlib.sha256(pdf.content).hexdigest() == gks["sha256"]
        verdict = (await http.get(f"/api/v1/documents/{gks['document_id']}/verify")).json()
        assert verdict["valid"] and verdict["intact"] and verdict["signer"] == gks["signer"]
        assert verdict["signed_at"]
        assert (await http.post("/api/v1/documents/verify", content=pdf.content)).json()["valid"]
        flipped = bytearray(pdf.content)
        flipped[len(flipped) // 3] ^= 0x01
        refused = (await http.post("/api/v1/documents/verify", content=bytes(flipped))).json()
        assert not refused["valid"] and not refused["intact"]
        assert (await http.get("/api/v1/documents/doc-0000000000000000/verify")).status_code \
            == 404
        assert (await http.get("/api/v1/documents/..%2F..%2Fhealth/verify")).status_code \
            in (404, 422)

        # --- a result signed for processing, then issued: into the warehouse ---
        signed = await http.post("/api/v1/sign", content=img2pdf.convert(png()),
                                 params={"document_type": "Quyết định hưởng"},
                                 headers={"content-type": "application/pdf"})
        assert signed.status_code == 201, signed.text
        result = signed.json()
        assert result["signer"] == "dev-office_leader"  # the leader's own key
        assert result["verification_url"].endswith(f"/documents/{result['document_id']}/verify")
        assert (await http.post("/api/v1/sign", content=b"not a pdf")).status_code == 415
        await publish(runtime, kafka_bootstrap, (topics.RESULTS, ResultIssued(
            dossier_code=code, agency_code=AGENCY, procedure_code="BHXH.NH.03",
            applicant=ApplicantRef(kind="individual", ref=applicant),
            issued_at=datetime.now(UTC), result_code="KQ-1", result_type="Quyết định hưởng",
            document_ref=result["document_id"], verification_url=result["verification_url"])))

        async def warehouse() -> dict[str, Any]:
            listing = (await http.get(f"/api/v1/warehouse/{applicant}/documents")).json()
            return {d["document_ref"]: d for d in listing["documents"]}

        async def has_result() -> bool:
            return result["document_id"] in await warehouse()
        await eventually(has_result, "the result document in the warehouse")
        held = await warehouse()
        assert held[gks["document_id"]] | {"stored_at": None} == {
            "document_ref": gks["document_id"], "document_type": "GKS", "source": "scanned",
            "dossier_code": code, "component_code": "GKS", "stored_at": None,
            "signed_file": True, "pages": 2, "signer": gks["signer"],
            "signed_at": gks["signed_at"], "valid": True, "validity": "valid", "reused_in": []}
        assert held[result["document_id"]]["source"] == "result"
        assert held[result["document_id"]]["valid"] is True
        assert held[f"doc-el-{unique}"]["signed_file"] is False
        assert held[f"doc-held-{unique}"]["reused_in"] == [code]
        assert len(held) == 5  # GKS, TK1, GCN, the held one (linked once), the result

        # --- the stored bytes changed behind the service's back: refused ---
        stored = runtime.app.state.documents.store.path(gks["sha256"])
        data = bytearray(stored.read_bytes())
        data[len(data) // 3] ^= 0x01
        stored.write_bytes(bytes(data))
        tampered = (await http.get(f"/api/v1/documents/{gks['document_id']}/verify")).json()
        assert tampered["valid"] is False and tampered["intact"] is False

        # --- a supplement opens its components for scanning ---
        await publish(runtime, kafka_bootstrap, (topics.INTAKE, SupplementReceived(
            dossier_code=code, received_at=datetime.now(UTC), complete=True,
            components=[ComponentRef(code="BS1", form="paper")])))

        async def reopened() -> bool:
            v = (await http.get(f"/api/v1/dossiers/{code}")).json()
            return any(c["code"] == "BS1" for c in v["components"])
        await eventually(reopened, "the dossier reopened with its BS1 component")
        assert (await http.get(f"/api/v1/dossiers/{code}")).json()["digitized_at"] is None
        bs1 = await http.post(f"/api/v1/dossiers/{code}/components/BS1/scan",
                              files={"pages": ("bs.tiff", _tiff())})
        assert bs1.status_code == 201 and bs1.json()["dossier_digitized"] is True
        again_done = await read_topic(
            kafka_bootstrap, topics.DIGITIZATION.name,
            lambda body, _: body.get("subject") == code
            and body.get("type") == DossierDigitized.event_type, count=2)
        assert again_done[-1][0]["data"]["component_count"] == 6


def _tiff() -> bytes:
    out = io.BytesIO()
    Image.new("L", (400, 500), 255).save(out, format="TIFF")
    return out.getvalue()
