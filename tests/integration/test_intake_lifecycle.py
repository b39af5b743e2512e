"""Refusal, one supplement request, the supplement that completes the dossier (the legal
clock starts afresh), withdrawal; a request that does not fit the state answers 409."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pypdf import PdfReader

from contracts import topics
from contracts.events import DossierRejected, SupplementReceived, SupplementRequested
from services.intake.app import build
from services.intake.settings import IntakeSettings
from tests.auth import AUTH
from tests.integration.support import read_topic, settings_for, started

pytestmark = pytest.mark.integration
AGENCY = "000.00.01.H26"  # no other test uses this agency (they share the broker)


def pdf_text(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def pension(n: str, **more: object) -> dict:
    return {"agency_code": AGENCY, "procedure_code": "BHXH.DH.01", "channel": "counter",
            "applicant": {"kind": "individual", "full_name": "Đỗ Văn Hùng",
                          "id_number": "001060001234"},
            "components": [{"code": "SO-BHXH", "form": "paper"},
                           {"code": "QD-NV", "form": "paper"}],
            "submission_id": f"life-{n}", "officer": "Lê Thị Mai", **more}


async def test_counter_lifecycle(kafka_bootstrap: str, tmp_path: Path, unique: str) -> None:
    runtime = await started(build(settings_for(
        IntakeSettings, kafka_bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'i.db'}", tmp_path)))
    try:
        async with httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=runtime.app),
                                     base_url="http://intake") as client:
            refused = await client.post("/api/v1/refusals", json={
                **pension(unique + "r"), "reasons": [{
                    "code": "not_eligible", "message_vi": "Chưa đủ tuổi nghỉ hưu",
                    "message_en": "below retirement age",
                    "legal_basis": "Luật BHXH 2024, Điều 64"}]})
            assert refused.status_code == 201, refused.text
            assert refused.json()["status"] == "refused"
            refused_code = refused.json()["dossier_code"]

            received_at = datetime.now(UTC) - timedelta(days=40)
            r = await client.post("/api/v1/dossiers", json=pension(
                unique, received_at=received_at.isoformat()))
            assert r.status_code == 201, r.text
            code, first_due = r.json()["dossier_code"], r.json()["due_at"]

            ask = await client.post(f"/api/v1/dossiers/{code}/supplement-request", json={
                "requested_by": "Lê Thị Mai", "items": [
                    {"component_code": "QD-NV", "problem_vi": "Thiếu quyết định nghỉ việc"},
                    {"component_code": "14-HSB", "problem_vi": "Thiếu đơn đề nghị"}]})
            assert ask.status_code == 201 and ask.json()["status"] == "awaiting_supplement"
            twice = await client.post(f"/api/v1/dossiers/{code}/supplement-request", json={
                "requested_by": "x", "items": [{"problem_vi": "y"}]})
            assert twice.status_code == 409
            assert twice.json()["current_status"] == "awaiting_supplement"

            # The slips, read back as text: diacritics intact, the right content in each.
            receipt = pdf_text(await client.get(f"/api/v1/dossiers/{code}/receipt.pdf"))
            assert code in receipt and "Đỗ Văn Hùng" in receipt
            assert "Sổ bảo hiểm xã hội" in receipt and "Lê Thị Mai" in receipt
            request_pdf = pdf_text(await client.get(
                f"/api/v1/dossiers/{code}/supplement-request.pdf"))
            assert "Thiếu quyết định nghỉ việc" in request_pdf and code in request_pdf
            refusal_pdf = pdf_text(await client.get(
                f"/api/v1/dossiers/{refused_code}/refusal.pdf"))
            assert "Chưa đủ tuổi nghỉ hưu" in refusal_pdf and "Điều 64" in refusal_pdf
            wrong = await client.get(f"/api/v1/dossiers/{code}/refusal.pdf")
            assert wrong.status_code == 409

            part = await client.post(f"/api/v1/dossiers/{code}/supplement", json={
                "components": [{"code": "QD-NV", "form": "paper"}]})
            assert part.status_code == 200
            assert [m["component_code"] for m in part.json()["missing"]] == ["14-HSB"]
            assert part.json()["status"] == "awaiting_supplement"

            done = await client.post(f"/api/v1/dossiers/{code}/supplement", json={
                "components": [{"code": "14-HSB", "form": "electronic"}]})
            assert done.status_code == 200 and done.json()["status"] == "received"
            assert done.json()["missing"] == []
            assert done.json()["due_at"] > first_due  # counted afresh from the supplement

            key = {"Idempotency-Key": f"withdraw-{unique}"}
            gone = await client.post(f"/api/v1/dossiers/{code}/withdrawal",
                                     json={"reason": "Người nộp xin rút"}, headers=key)
            assert gone.status_code == 200 and gone.json()["status"] == "withdrawn"
            retry = await client.post(f"/api/v1/dossiers/{code}/withdrawal",
                                      json={"reason": "Người nộp xin rút"}, headers=key)
            assert retry.status_code == 200 and retry.json() == gone.json()
            assert retry.headers["Idempotent-Replay"] == "true"
            elsewhere = await client.post(f"/api/v1/dossiers/{refused_code}/withdrawal",
                                          json={}, headers=key)
            assert elsewhere.status_code == 422
            again = await client.post(f"/api/v1/dossiers/{code}/withdrawal", json={})
            assert again.status_code == 409 and again.json()["current_status"] == "withdrawn"
            missing = await client.post("/api/v1/dossiers/NOPE-1/withdrawal", json={})
            assert missing.status_code == 404

        events = await read_topic(kafka_bootstrap, topics.INTAKE.name,
                                  lambda b, _: b.get("subject") in (code, refused_code),
                                  count=6)
        types = [b["type"] for b, _ in events if b["subject"] == code]
        assert types == ["vn.gov.bhxh.onestop.dossier.received.v1",
                         SupplementRequested.event_type, SupplementReceived.event_type,
                         SupplementReceived.event_type,
                         "vn.gov.bhxh.onestop.dossier.withdrawn.v1"]
        complete = [b["data"] for b, _ in events if b["type"] == SupplementReceived.event_type]
        assert [c["complete"] for c in complete] == [False, True]
        rejected = [b for b, _ in events if b["subject"] == refused_code]
        assert rejected[0]["type"] == DossierRejected.event_type
        assert rejected[0]["data"]["reasons"][0]["legal_basis"] == "Luật BHXH 2024, Điều 64"
    finally:
        await runtime.stop()


async def test_dossiers_are_listed_by_filter_and_page(kafka_bootstrap: str, tmp_path: Path,
                                                      unique: str) -> None:
    runtime = await started(build(settings_for(
        IntakeSettings, kafka_bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'i.db'}", tmp_path)))
    try:
        async with httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=runtime.app),
                                     base_url="http://intake") as client:
            base = datetime.now(UTC) - timedelta(days=3)
            for i in range(7):
                r = await client.post("/api/v1/dossiers", json=pension(
                    f"{unique}-{i}", received_at=(base + timedelta(hours=i)).isoformat(),
                    **({"channel": "postal", "postal_tracking_number": f"EMS{i:09d}VN"}
                       if i % 2 else {})))
                assert r.status_code == 201, r.text
            seen, after = [], None
            while True:
                params = {"agency": AGENCY, "channel": "counter", "limit": 2}
                if after:
                    params["after"] = after
                page = (await client.get("/api/v1/dossiers", params=params)).json()
                seen += [item["received_at"] for item in page["items"]]
                after = page["next_after"]
                if not after:
                    break
            assert len(seen) == 4 and seen == sorted(seen)  # i = 0, 2, 4, 6
            window = (await client.get("/api/v1/dossiers", params={
                "from": (base + timedelta(minutes=30)).isoformat(),
                "to": (base + timedelta(hours=3, minutes=30)).isoformat()})).json()
            assert len(window["items"]) == 3  # i = 1, 2, 3
            bad = await client.get("/api/v1/dossiers", params={"after": "garbage"})
            assert bad.status_code == 422
            postal = (await client.get("/api/v1/dossiers", params={"channel": "postal"})).json()
            assert postal["items"][0]["channel_reference"].startswith("EMS")
            no_number = await client.post("/api/v1/dossiers", json=pension(
                f"{unique}-np", channel="postal"))
            assert no_number.status_code == 422
            problem = no_number.json()["problems"][0]
            assert problem["field"] == "postal_tracking_number"
            assert problem["message_vi"] == "Hồ sơ qua bưu chính cần số hiệu bưu gửi"
            online = await client.post("/api/v1/dossiers", json=pension(
                f"{unique}-on", channel="online"))
            assert online.status_code == 422
            assert "portal_account" in online.json()["problems"][0]["message_en"]
    finally:
        await runtime.stop()
