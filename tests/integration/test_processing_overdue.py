"""A late dossier over the real broker with the injectable clock: the apology letter
issued while the delay is foreseen (once), the dossier overdue at its due time and listed
for the centre to chase until its office explains it, the decision still late whatever the
new date, the result document (unsigned) and the control slip (paper after 15:00 handed
over the next working day), and an outside system reading the public result topic in its
own consumer group."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from contracts import topics
from services.common.clock import FixedClock
from services.law.workdays import TZ, WorkCalendar
from services.processing.app import build
from services.processing.settings import ProcessingSettings
from tests.integration.support import eventually, read_topic, settings_for, started
from tests.integration.test_processing_lifecycle import (
    AGENCY,
    LEADER,
    LEGAL,
    A,
    C,
    _type,
    act,
    arrive,
    case_when,
    client_for,
)

pytestmark = pytest.mark.integration


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ).astimezone(UTC)  # type: ignore[misc]


def pdf_text(content: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "doc.pdf"
    path.write_bytes(content)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


async def listed(client: httpx.AsyncClient, code: str, **params: Any) -> bool:
    """Whether the list holds the case, on any page (the broker is shared by the session:
    other tests' dossiers of this agency are cases here too)."""
    after = None
    while True:
        r = await client.get("/api/v1/cases", params={"agency": AGENCY, "page_size": 500,
                                                      **params, **({"after": after} if after
                                                                   else {})})
        assert r.status_code == 200, r.text
        if code in [i["code"] for i in r.json()["items"]]:
            return True
        after = r.json()["next_after"]
        if not after:
            return False


async def outside_system_reads(bootstrap: str, code: str, group: str) -> list[dict[str, Any]]:
    """As another government system would: its own group, committing what it read."""
    consumer = AIOKafkaConsumer(topics.RESULTS.name, bootstrap_servers=bootstrap,
                                group_id=group, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        for _ in range(120):
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    assert b"001190012345" not in record.value  # no personal number
                    body = __import__("json").loads(record.value)
                    if body.get("subject") == code:
                        found.append(body)
            await consumer.commit()
            if len(found) >= 3:
                break
    finally:
        await consumer.stop()
    return found


async def test_a_late_dossier_is_apologised_for_explained_and_still_late(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    received = local(2026, 3, 6, 16, 10)  # Friday, on paper at the counter, after 15:00
    due = WorkCalendar().due_at(received, LEGAL)
    assert due == local(2026, 3, 13, 17, 0)
    clock = FixedClock(local(2026, 3, 9, 8, 0))  # Monday morning: processing opens it
    runtime = await started(build(settings_for(ProcessingSettings, kafka_bootstrap,
                                               database_url, tmp_path), clock))
    code = f"{AGENCY}-260306-D{unique}"
    try:
        async with client_for(runtime) as client:
            await arrive(runtime, kafka_bootstrap, code, received)
            await case_when(client, code, lambda c: c["state"] == "in_step", "the opening")
            await act(client, code, "claim", A)

            # Nothing to explain yet.
            early = await client.post(f"/api/v1/cases/{code}/explanations",
                                      json={"cause": "Chưa quá hạn", "officer": A})
            assert early.status_code == 409, early.text
            assert early.json()["problems"][0]["code"] == "not_overdue"

            # Tuesday: the delay is foreseen, the letter is in time.
            clock.set(local(2026, 3, 10, 10, 0))
            new_due = local(2026, 3, 17, 17, 0)
            letter = {"reason": "Chờ xác minh quá trình đóng tại tỉnh khác",
                      "new_due_at": new_due.isoformat(), "signed_by": "Nguyễn Văn Bình",
                      "officer": A}
            bad = await client.post(f"/api/v1/cases/{code}/apology",
                                    json=letter | {"new_due_at": due.isoformat()})
            assert bad.status_code == 422
            assert bad.json()["problems"][0]["code"] == "reappointment_not_later"
            issued = await client.post(f"/api/v1/cases/{code}/apology", json=letter)
            assert issued.status_code == 201, issued.text
            assert issued.json()["in_time"] is True
            assert datetime.fromisoformat(issued.json()["new_due_at"]) == new_due
            again = await client.post(f"/api/v1/cases/{code}/apology", json=letter)
            assert again.status_code == 409
            assert again.json()["problems"][0]["code"] == "apology_repeated"
            text = pdf_text((await client.get(f"/api/v1/cases/{code}/apology.pdf")).content,
                            tmp_path)
            assert "Chờ xác minh quá trình đóng tại tỉnh khác" in text
            assert "ngày 17 tháng 3 năm 2026" in text and code in text

            # Past the due time: overdue, listed for the centre until explained.
            clock.set(due + timedelta(hours=1))
            async def overdue_after_a_tick() -> dict[str, Any] | None:
                # A tick skips a row another transaction holds (PostgreSQL): tick again.
                await runtime.app.state.monitor()
                view = (await client.get(f"/api/v1/cases/{code}")).json()
                return view if view["deadline"] == "overdue" else None
            await eventually(overdue_after_a_tick, "the case to be overdue", seconds=30,
                             interval=0.5)
            assert await listed(client, code, deadline="overdue", explained="false")
            explained = await client.post(f"/api/v1/cases/{code}/explanations", json={
                "cause": "Tỉnh khác trả lời xác minh chậm 3 ngày", "officer": A})
            assert explained.status_code == 201, explained.text
            assert explained.json()["explained_by"] == AGENCY
            assert not await listed(client, code, deadline="overdue", explained="false")
            assert await listed(client, code, deadline="overdue", explained="true")
            view = (await client.get(f"/api/v1/cases/{code}")).json()
            assert view["explanations"][0]["cause"] == "Tỉnh khác trả lời xác minh chậm 3 ngày"
            assert view["apology"]["in_time"] is True
            held = {(a["holder"], a["officer"]) for a in view["attribution"]}
            assert ("Phòng Chế độ BHXH", A) in held and ("receiving unit", None) in held

            # Decided within the new date: still late against the original due time.
            clock.set(local(2026, 3, 16, 9, 0))
            await act(client, code, "complete_step", A, decision="approve")
            await act(client, code, "claim", C)
            await act(client, code, "complete_step", C, decision="approve")
            await act(client, code, "approve", LEADER)
            issued_result = await act(client, code, "issue_result", LEADER,
                                      result_code="QD-002")
            assert issued_result["state"] == "result_issued"
            clock.set(local(2026, 3, 16, 15, 0))
            await act(client, code, "record_return", A)

            result = await client.get(f"/api/v1/cases/{code}/result.pdf")
            assert result.status_code == 200
            assert result.headers["content-type"] == "application/pdf"
            text = pdf_text(result.content, tmp_path)
            assert "CHƯA KÝ SỐ" in text and code in text

            slip = (await client.get(f"/api/v1/cases/{code}/control-slip")).json()
            first = slip["rows"][0]
            assert "after_cutoff" in first["notes"]
            # Handed to the department on Monday, not on the Friday of receipt.
            assert datetime.fromisoformat(first["handed_at"]).astimezone(TZ).date() == \
                local(2026, 3, 9, 8, 0).astimezone(TZ).date()
            assert [r["outcome"] for r in slip["rows"] if r["outcome"]][-1] == "late"
            slip_pdf = await client.get(f"/api/v1/cases/{code}/control-slip.pdf")
            assert code in pdf_text(slip_pdf.content, tmp_path)

        resolved = await read_topic(kafka_bootstrap, topics.PROCESSING.name,
                                    lambda b, _: b.get("subject") == code and b["type"] in (
                                        _type("dossier.resolved"), _type("apology.issued"),
                                        _type("overdue.explained")), count=3)
        by_type = {b["type"]: b["data"] for b, _ in resolved}
        assert by_type[_type("dossier.resolved")]["timeliness"] == "late"
        assert by_type[_type("apology.issued")]["signed_by"] == "Nguyễn Văn Bình"
        assert by_type[_type("overdue.explained")]["explained_by"] == AGENCY

        public = await outside_system_reads(kafka_bootstrap, code, f"other-gov-{unique}")
        assert [b["type"] for b in public] == [
            _type("dossier.resolved"), _type("result.issued"), _type("result.returned")]
        decided, result_issued = public[0]["data"], public[1]["data"]
        assert decided["decision"] == "approved" and decided["procedure_code"] == "BHXH.NH.03"
        assert decided["agency_code"] == AGENCY
        assert decided["applicant"] == {"kind": "individual", "ref": f"p1_{code}"}
        assert result_issued["document_ref"].startswith("doc-")
        assert result_issued["verification_url"].endswith(
            f"/api/v1/documents/{result_issued['document_ref']}/verify")
    finally:
        await runtime.stop()
