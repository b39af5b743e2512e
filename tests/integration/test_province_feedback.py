"""Every province record is answered on the feedback topic, on the real broker: refused
(IngestRejected, with why) or taken in (IngestAccepted, batch by batch, to its own system,
also when it was taken in before). Control characters in a code, a name or a note are
refused, and nothing of such a record is kept; the counter's HTTP route refuses them too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from bench.hostile import HANOI, HCM, status_event
from contracts import topics
from contracts.ingest import IngestAccepted, IngestRejected
from services.intake import tables
from services.intake.app import build
from services.intake.settings import IntakeSettings, dev_signed
from tests.auth import AUTH
from tests.integration.support import read_topic, settings_for, started

pytestmark = pytest.mark.integration


def _bytes(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode()


async def _publish(bootstrap: str, values: list[tuple[bytes, str]]) -> None:
    """(value, signing system) each, signed now, keyed by its subject."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value, system in values:
            key = json.loads(value)["subject"].encode()
            await producer.send_and_wait(topics.INGEST.name, value, key=key,
                                         headers=dev_signed(value, system))
    finally:
        await producer.stop()


def _ack_ids(found: list[tuple[dict[str, Any], Any]], system: str) -> dict[str, set[str]]:
    """The ids each list of `system`'s acknowledgements names."""
    out: dict[str, set[str]] = {"applied": set(), "parked": set(), "duplicates": set()}
    for body, _ in found:
        if body["type"] == IngestAccepted.event_type and body["data"]["system_id"] == system:
            for kind in out:
                out[kind] |= set(body["data"][kind])
    return out


async def test_control_characters_are_refused_answered_and_nothing_is_kept(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    runtime = await started(build(settings_for(IntakeSettings, kafka_bootstrap, database_url,
                                               tmp_path)))
    base = f"{HANOI}-260302-k{unique}"
    name = "Nguyễn Thị Hoa"
    hostile = {
        "nul-in-code": (status_event(f"{base}a\x00", 2), "dossier_code", "U+0000"),
        "esc-in-code": (status_event(f"{base}b\x1b[2J", 2), "dossier_code", "U+001B"),
        "crlf-in-code": (status_event(f"{base}c\r\nX-Injected: 1", 2), "dossier_code", "U+000D"),
        "del-in-code": (status_event(f"{base}d\x7f", 2), "dossier_code", "U+007F"),
        "c1-in-code": (status_event(f"{base}e\x9b", 2), "dossier_code", "U+009B"),
        "esc-in-name": (status_event(f"{base}f", 2), "applicant.full_name", "U+001B"),
        "lf-in-name": (status_event(f"{base}g", 2), "applicant.full_name", "U+000A"),
        # In a note a person may break lines (LF) and tab, nothing else: not CR.
        "cr-in-note": (status_event(f"{base}h", 2, note="Dòng một\r\nDòng hai"), "note",
                       "U+000D"),
    }
    hostile["esc-in-name"][0]["data"]["applicant"]["full_name"] = f"{name}\x1b[31m"
    hostile["lf-in-name"][0]["data"]["applicant"]["full_name"] = f"{name}\nGiám đốc"
    fine = status_event(f"{base}i", 2, note="Dòng một\nDòng hai\tcó tab")
    try:
        await _publish(kafka_bootstrap, [(_bytes(e), "hanoi-mcdt")
                                         for e, _, _ in hostile.values()] +
                       [(_bytes(fine), "hanoi-mcdt")])
        ids = {e["id"]: kind for kind, (e, _, _) in hostile.items()}
        found = await read_topic(
            kafka_bootstrap, topics.INGEST_REJECTED.name,
            lambda b, _: b["data"].get("rejected_event_id") in ids or
            fine["id"] in b["data"].get("applied", ()), count=len(ids) + 1)
        answers = {ids[b["data"]["rejected_event_id"]]: (b, r) for b, r in found
                   if b["type"] == IngestRejected.event_type}
        assert set(answers) == set(hostile)
        for kind, (body, record) in answers.items():
            _, field, char = hostile[kind]
            [problem] = body["data"]["problems"]
            assert (problem["code"], problem["field"]) == ("control_characters", field), kind
            assert char in problem["message_en"] and char in problem["message_vi"], kind
            assert name not in json.dumps(problem, ensure_ascii=False)  # never the text
            # What the record key echoes holds no control character (a CR/LF, a NUL).
            assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F
                           for c in record.key.decode()), kind
        assert _ack_ids(found, "hanoi-mcdt")["applied"] == {fine["id"]}
        async with runtime.sessions() as s:
            kept = set((await s.scalars(select(tables.dossiers.c.code).where(
                tables.dossiers.c.code.like(f"{base}%")))).all())
            parked = (await s.scalars(select(tables.parked.c.event_id))).all()
        assert kept == {f"{base}i"}
        assert parked == []
    finally:
        await runtime.stop()


async def test_every_record_taken_in_is_acknowledged_to_its_own_system_and_again_when_resent(
        kafka_bootstrap: str, tmp_path: Path, unique: str) -> None:
    runtime = await started(build(settings_for(
        IntakeSettings, kafka_bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'i.db'}", tmp_path)))
    hanoi = status_event(f"{HANOI}-260302-a{unique}", 2)
    # News of a dossier not received yet: kept until its receipt, acknowledged as parked.
    ahead = status_event(f"{HANOI}-260302-p{unique}", 9, decision="approved")
    hcm = status_event(f"{HCM}-260302-a{unique}", 2, agency=HCM, system="hcm-mcdt")
    refused = status_event(f"{HANOI}-260302-r{unique}", 2, procedure_code="NO.SUCH.1")
    wanted = {hanoi["id"], ahead["id"], hcm["id"], refused["id"]}

    def mine(body: dict[str, Any], _: Any) -> bool:
        data = body["data"]
        return data.get("rejected_event_id") in wanted or bool(
            wanted & {*data.get("applied", ()), *data.get("parked", ()),
                      *data.get("duplicates", ())})

    try:
        await _publish(kafka_bootstrap, [(_bytes(hanoi), "hanoi-mcdt"),
                                         (_bytes(ahead), "hanoi-mcdt"),
                                         (_bytes(hcm), "hcm-mcdt"),
                                         (_bytes(refused), "hanoi-mcdt")])
        found = await read_topic(kafka_bootstrap, topics.INGEST_REJECTED.name, mine, count=3)
        acks = [(b, r) for b, r in found if b["type"] == IngestAccepted.event_type]
        assert _ack_ids(acks, "hanoi-mcdt") == {"applied": {hanoi["id"]},
                                                "parked": {ahead["id"]}, "duplicates": set()}
        assert _ack_ids(acks, "hcm-mcdt") == {"applied": {hcm["id"]}, "parked": set(),
                                              "duplicates": set()}
        for body, record in acks:  # a province reads its own: keyed by its system id
            assert record.key.decode() == body["subject"] == body["data"]["system_id"]
        # The refused one is answered by its refusal alone.
        rejections = [b for b, _ in found if b["type"] == IngestRejected.event_type]
        assert [b["data"]["rejected_event_id"] for b in rejections] == [refused["id"]]
        # Sent again, byte for byte and serialized anew (other key order and spacing):
        # answered as taken in before, applied once, never refused as an id reused.
        again = json.dumps(dict(reversed(list(hanoi.items()))), indent=2).encode()
        await _publish(kafka_bootstrap, [(_bytes(hanoi), "hanoi-mcdt"), (again, "hanoi-mcdt"),
                                         (_bytes(hcm), "hcm-mcdt")])
        found = await read_topic(
            kafka_bootstrap, topics.INGEST_REJECTED.name,
            lambda b, r: mine(b, r) and bool(b["data"].get("duplicates")), count=2)
        assert _ack_ids(found, "hanoi-mcdt")["duplicates"] == {hanoi["id"]}
        assert _ack_ids(found, "hcm-mcdt")["duplicates"] == {hcm["id"]}
        assert await read_topic(
            kafka_bootstrap, topics.INGEST_REJECTED.name,
            lambda b, _: b["data"].get("rejected_event_id") == hanoi["id"],
            wait_seconds=3) == []
        async with runtime.sessions() as s:
            received = (await s.scalars(select(runtime.tables.outbox.c.event_type).where(
                runtime.tables.outbox.c.key == hanoi["subject"]))).all()
        assert received.count("vn.gov.bhxh.onestop.dossier.received.v1") == 1
    finally:
        await runtime.stop()


async def test_the_counters_route_refuses_control_characters_too(tmp_path: Path,
                                                                 unique: str) -> None:
    runtime = build(settings_for(IntakeSettings, "127.0.0.1:1",
                                 f"sqlite+aiosqlite:///{tmp_path / 'i.db'}", tmp_path))
    await runtime.migrate()
    body = {"agency_code": "000.12.01.H62", "procedure_code": "BHXH.DH.01",
            "channel": "counter",
            "applicant": {"kind": "individual", "full_name": "Đỗ Văn\x1b[2JHùng",
                          "id_number": "001060009876", "address": "12 Phố Huế\r\nHà Nội"},
            "components": [{"code": "SO-BHXH", "form": "paper"},
                           {"code": "QD-NV", "form": "paper", "document_ref": "doc-1\x7f"}],
            "submission_id": f"cc-{unique}"}
    try:
        async with httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=runtime.app),
                                     base_url="http://intake") as client:
            answer = await client.post("/api/v1/dossiers", json=body)
            refusal = await client.post("/api/v1/refusals", json={
                **body, "submission_id": f"cr-{unique}", "reasons": [
                    {"code": "x", "message_vi": "Chưa đủ tuổi", "message_en": "too young"}]})
        for response in (answer, refusal):
            assert response.status_code == 422, response.text
            problems = response.json()["problems"]
            assert {(p["code"], p["field"]) for p in problems} == {
                ("control_characters", "applicant.full_name"),
                ("control_characters", "applicant.address"),
                ("control_characters", "components.1.document_ref")}
            assert all(p["message_vi"] and p["message_en"] for p in problems)
        async with runtime.sessions() as s:
            assert (await s.scalars(select(tables.dossiers.c.code))).all() == []
    finally:
        await runtime.engine.dispose()

