"""A hostile province: thousands of bad records on the ingest topic, then valid ones.

Every record a province publishes must be answered on `onestop.ingest.rejected.v1` when it
is refused (unreadable ones dead-lettered too), no service may exit, and valid events behind
the bad ones must still arrive within seconds. `run()` publishes, then classifies each
hostile record as answered, dead-lettered, both, or neither (must be none), and times the
valid ones from publish to their DossierReceived on the intake topic.

    python -m bench.hostile [--per-kind N] [--valid N]

starts a local broker and the intake service as its own process (SQLite), runs the attack,
prints the figures and checks the process is still alive. The integration test
tests/integration/test_hostile_province.py runs the same attack, smaller, in make test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts import topics
from contracts.ingest import sign
from contracts.topics import SERVICES, dead_letter_topic
from services.intake.settings import dev_province_key, dev_signed

EXAMPLE = Path(__file__).resolve().parents[1] / "contracts" / "examples" / \
    "ingest.dossier-status.v1.json"
HANOI = "000.01.02.H26"  # under hanoi-mcdt's root
HCM = "000.79.01.H29"  # under hcm-mcdt's root
DLQ = dead_letter_topic("intake").name
ID_NUMBER = b"001190012345"  # the example applicant's, in every status-2 record sent here
PERSONAL = (ID_NUMBER, b"0112345678", b"0912345678", b"hoa@example.vn")


@dataclass
class Hostile:
    kind: str
    value: bytes | None
    key: bytes | None
    event_id: str | None = None  # the id an answer names, when the record has a readable one
    must_dead_letter: bool = False  # unreadable: operators see it in the dead-letter topic
    # Kafka headers as sent; None: signed when published by `signer`'s development key.
    headers: list[tuple[str, bytes]] | None = None
    signer: str = "hanoi-mcdt"
    partition: int = -1
    offset: int = -1

    @property
    def locator(self) -> str:
        return f"{topics.INGEST.name}/{self.partition}/{self.offset}"


@dataclass
class Outcome:
    answered: int = 0
    dead_lettered: int = 0
    both: int = 0
    neither: list[str] = field(default_factory=list)
    missing_dead_letter: list[str] = field(default_factory=list)
    by_kind: dict[str, dict[str, Any]] = field(default_factory=dict)
    dead_letters_unsealed: int = 0  # of a personal-data topic: must be 0
    dead_letters_with_id_number: int = 0  # the example applicant's number in clear: must be 0
    valid_seconds: list[float] = field(default_factory=list)
    valid_missing: int = 0

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.valid_seconds)
        return {
            "hostile": self.answered + self.dead_lettered - self.both + len(self.neither),
            "answered": self.answered, "dead_lettered": self.dead_lettered,
            "answered_and_dead_lettered": self.both, "neither": len(self.neither),
            "valid": len(self.valid_seconds) + self.valid_missing,
            "valid_missing": self.valid_missing,
            "valid_p50_s": round(ordered[len(ordered) // 2], 2) if ordered else None,
            "valid_max_s": round(ordered[-1], 2) if ordered else None,
            "dead_letters_unsealed": self.dead_letters_unsealed,
            "dead_letters_with_id_number": self.dead_letters_with_id_number,
        }


def example() -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text("utf-8"))


def status_event(code: str, status: int, *, agency: str = HANOI, system: str = "hanoi-mcdt",
                 at: datetime | None = None, **data: Any) -> dict[str, Any]:
    """A valid province event (status 2 brings the example's applicant and components)."""
    base = example()
    at = at or datetime.now(UTC) - timedelta(hours=1)
    body = {**base["data"], "dossier_code": code, "agency_code": agency, "system_id": system,
            "status": status, "occurred_at": at.isoformat(),
            "received_at": at.isoformat() if status == 2 else None,
            "components": [{"code": "GKS", "form": "paper"}], **data}
    if status not in (2, 3):
        body["applicant"] = None
    return {**base, "id": str(uuid.uuid4()), "source": f"province/{system}", "subject": code,
            "agencycode": agency, "time": at.isoformat(), "data": body}


def _bytes(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode()


Headers = list[tuple[str, bytes]]


def _hostile(kind: str, event: dict[str, Any], *, dead: bool = False,
             headers: Headers | Callable[[bytes], Headers] | None = None) -> Hostile:
    # Signed by the system the event names: only the signature kinds lie about it.
    value = _bytes(event)
    return Hostile(kind, value, event["subject"].encode(), event.get("id"), dead,
                   headers(value) if callable(headers) else headers,
                   str(event.get("data", {}).get("system_id") or "hanoi-mcdt"))


def _now_ms() -> int:
    return int(time.time() * 1000)


def kinds(tag: str, victim: str, applied: dict[str, Any]) -> dict[str, Callable[[int], Hostile]]:
    """Each kind of bad record, by name; `victim` is a Hanoi dossier already received and
    `applied` a valid event of it already applied (for the id-reuse attack)."""

    def code(i: int) -> str:
        return f"{HANOI}-260302-h{tag}{i}"

    def edit(i: int, status: int = 2, **data: Any) -> dict[str, Any]:
        return status_event(code(i), status, **data)

    def envelope_edit(i: int, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        event = edit(i)
        change(event)
        return event

    def deep(i: int) -> Hostile:
        value = b'{"id":"' + str(uuid.uuid4()).encode() + b'","data":' + \
            b'{"a":' * 10_000 + b"1" + b"}" * 10_000 + b"}"
        return Hostile("nested-10000", value, code(i).encode(), None, True)

    def nested(i: int) -> Hostile:
        event = edit(i)
        inner: dict[str, Any] = {}
        event["data"]["extra"] = inner
        for _ in range(40):
            inner["x"] = {}
            inner = inner["x"]
        return _hostile("nested-40", event, dead=True)

    def reused(i: int) -> Hostile:
        other = json.loads(json.dumps(applied))
        other["data"]["note"] = f"other content {i}"
        return _hostile("id-reused", other, dead=True)

    def too_large(i: int) -> Hostile:
        event = edit(i)
        event["data"]["note_padding"] = "x" * (1024 * 1024 + 10)
        return _hostile("too-large-record", event, dead=True)

    return {
        "not-json": lambda i: Hostile("not-json", b"\x00garbage{" + str(i).encode(),
                                      code(i).encode(), None, True),
        "not-utf8": lambda i: Hostile("not-utf8", b"\xff\xfe{\x00" + str(i).encode(), None,
                                      None, True),
        "empty": lambda i: Hostile("empty", b"", code(i).encode(), None, True),
        "null-value": lambda i: Hostile("null-value", None, code(i).encode(), None, True),
        "json-array": lambda i: Hostile("json-array", b"[1,2,3]", code(i).encode(), None, True),
        "nested-10000": deep,
        "nested-40": nested,
        "too-large-record": too_large,
        "time-year-one": lambda i: _hostile("time-year-one", envelope_edit(
            i, lambda e: e.update(time="0001-01-01T00:00:00+07:00")), dead=True),
        "no-id": lambda i: _hostile("no-id", envelope_edit(i, lambda e: e.pop("id")),
                                    dead=True),
        "numeric-occurred-at": lambda i: _hostile("numeric-occurred-at", envelope_edit(
            i, lambda e: e["data"].update(occurred_at=1767225600)), dead=True),
        "unknown-type": lambda i: _hostile("unknown-type", envelope_edit(
            i, lambda e: e.update(type="vn.gov.bhxh.onestop.ingest.dossier-deleted.v1")),
            dead=True),
        "invalid-data": lambda i: _hostile("invalid-data", envelope_edit(
            i, lambda e: e["data"].pop("agency_code")), dead=True),
        "oversized-address": lambda i: _hostile("oversized-address", envelope_edit(
            i, lambda e: e["data"]["applicant"].update(address="đường " * 2000)), dead=True),
        "id-reused": reused,
        "before-catalogue": lambda i: _hostile("before-catalogue", edit(
            i, at=datetime(2019, 1, 2, 3, tzinfo=UTC))),
        "future-receipt": lambda i: _hostile("future-receipt", edit(
            i, at=datetime.now(UTC) + timedelta(days=400))),
        "unknown-dossier": lambda i: _hostile("unknown-dossier", edit(
            i, 9, decision="approved")),
        "other-province": lambda i: _hostile("other-province", status_event(
            victim, 7, agency=HCM, system="hcm-mcdt", note=f"withdraw {i}")),
        "other-province-own-agency-name": lambda i: _hostile(
            "other-province-own-agency-name", status_event(
                victim, 8, agency=HCM, system="hcm-mcdt", reasons=[{
                    "code": "x", "message_vi": "x", "message_en": "x"}])),
        "duplicate-components": lambda i: _hostile("duplicate-components", edit(
            i, components=[{"code": "GKS", "form": "paper"}, {"code": "GKS", "form": "paper"}])),
        "personal-document-ref": lambda i: _hostile("personal-document-ref", edit(
            i, components=[{"code": "GKS", "form": "electronic",
                            "document_ref": "kho:001190012345/gks.pdf"}])),
        "source-mismatch": lambda i: _hostile("source-mismatch", envelope_edit(
            i, lambda e: e.update(source="province/hcm-mcdt"))),
        # No key for it: refused at the signature, before the rules would say unknown_system.
        "unknown-system": lambda i: _hostile("unknown-system", status_event(
            code(i), 2, system="nowhere-mcdt"), dead=True),
        "unknown-agency-and-procedure": lambda i: _hostile(
            "unknown-agency-and-procedure", edit(i, procedure_code="NO.SUCH.1")),
        # Who wrote it cannot be proven: refused before it is read, dead-lettered.
        "unsigned": lambda i: _hostile("unsigned", edit(i), dead=True, headers=[]),
        "wrongly-signed": lambda i: _hostile("wrongly-signed", edit(i), dead=True,
                                             headers=lambda v: sign(v, "hanoi-mcdt",
                                                                    "a guessed key", _now_ms())),
        "signed-with-other-systems-key": lambda i: _hostile(
            "signed-with-other-systems-key", edit(i), dead=True,
            headers=lambda v: sign(v, "hanoi-mcdt", dev_province_key("hcm-mcdt"), _now_ms())),
        "stale-signature": lambda i: _hostile(
            "stale-signature", edit(i), dead=True,
            headers=lambda v: dev_signed(v, "hanoi-mcdt", _now_ms() - 2 * 86_400_000)),
        # A valid signature of HCM's on an event in Hanoi's name: refused by the rules.
        "signed-as-other-system": lambda i: _hostile(
            "signed-as-other-system", edit(i), headers=lambda v: dev_signed(v, "hcm-mcdt")),
    }


async def _producer(bootstrap: str) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5,
                                max_request_size=4 * 1024 * 1024)
    await producer.start()
    return producer


async def publish(producer: AIOKafkaProducer, records: list[Hostile]) -> None:
    futures = [await producer.send(
        topics.INGEST.name, r.value, key=r.key,
        headers=r.headers if r.headers is not None else dev_signed(r.value, r.signer))
        for r in records]
    for record, md in zip(records, await asyncio.gather(*futures), strict=True):
        record.partition, record.offset = md.partition, md.offset


async def wait_received(bootstrap: str, codes: set[str], wait_seconds: float) -> dict[str, float]:
    """When (perf_counter) each dossier's DossierReceived was seen on the intake topic."""
    seen: dict[str, float] = {}
    consumer = AIOKafkaConsumer(topics.INTAKE.name, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        deadline = time.perf_counter() + wait_seconds
        while len(seen) < len(codes) and time.perf_counter() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for r in records:
                    subject = json.loads(r.value).get("subject")
                    if subject in codes and subject not in seen:
                        seen[subject] = time.perf_counter()
    finally:
        await consumer.stop()
    return seen


async def collect(bootstrap: str, records: list[Hostile], wait_seconds: float,
                  outcome: Outcome) -> None:
    """Read the feedback and dead-letter topics until every hostile record is accounted."""
    by_locator = {r.locator: r for r in records}
    by_id: dict[str, list[Hostile]] = {}
    for r in records:
        if r.event_id:
            by_id.setdefault(r.event_id, []).append(r)
    answered: set[str] = set()
    dead: set[str] = set()
    answer_codes: dict[str, set[str]] = {}
    consumer = AIOKafkaConsumer(topics.INGEST_REJECTED.name, DLQ, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", group_id=None,
                                max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    try:
        deadline = time.perf_counter() + wait_seconds
        while time.perf_counter() < deadline:
            for records_ in (await consumer.getmany(timeout_ms=300)).values():
                for r in records_:
                    if r.topic == DLQ:
                        h = dict(r.headers or ())
                        where = (f"{topics.INGEST.name}/"
                                 f"{h.get('dlq-original-partition', b'').decode()}/"
                                 f"{h.get('dlq-original-offset', b'').decode()}")
                        if where in by_locator:
                            dead.add(where)
                            outcome.dead_letters_unsealed += "dlq-sealed" not in h
                            outcome.dead_letters_with_id_number += \
                                ID_NUMBER in (r.value or b"")
                        continue
                    data = json.loads(r.value).get("data", {})
                    named = data.get("rejected_event_id", "")
                    codes = {str(p.get("code")) for p in data.get("problems", [])}
                    if named in by_locator:
                        answered.add(named)
                        answer_codes.setdefault(by_locator[named].kind, set()).update(codes)
                    for h in by_id.get(named, []):
                        # an id reused for other content is answered under that id
                        if (h.kind == "id-reused") == ("id-reused" in codes):
                            answered.add(h.locator)
                            answer_codes.setdefault(h.kind, set()).update(codes)
            if all(loc in answered and (loc in dead or not by_locator[loc].must_dead_letter)
                   for loc in by_locator):
                break
    finally:
        await consumer.stop()
    for r in records:
        a, d = r.locator in answered, r.locator in dead
        kind = outcome.by_kind.setdefault(r.kind, {
            "sent": 0, "answered": 0, "dead_lettered": 0,
            "codes": sorted(answer_codes.get(r.kind, ()))})
        kind["sent"] += 1
        kind["answered"] += a
        kind["dead_lettered"] += d
        outcome.answered += a
        outcome.dead_lettered += d
        outcome.both += a and d
        if not a and not d:
            outcome.neither.append(f"{r.kind} {r.locator}")
        if r.must_dead_letter and not d:
            outcome.missing_dead_letter.append(f"{r.kind} {r.locator}")


async def run(bootstrap: str, *, per_kind: int, valid: int, wait_seconds: float = 120.0,
              progress: Callable[[str], None] = lambda _: None) -> Outcome:
    tag = uuid.uuid4().hex[:6]
    producer = await _producer(bootstrap)
    try:
        victim = f"{HANOI}-260302-v{tag}"
        first = status_event(victim, 2)
        applied = status_event(victim, 4, step={
            "step_no": 1, "step_code": "CDBHXH", "department": "Phòng Chế độ BHXH",
            "at": datetime.now(UTC).isoformat()})
        for setup in (_bytes(first), _bytes(applied)):
            await producer.send_and_wait(topics.INGEST.name, setup, key=victim.encode(),
                                         headers=dev_signed(setup, "hanoi-mcdt"))
        if not await wait_received(bootstrap, {victim}, 60):
            raise RuntimeError("the intake service did not receive the setup dossier")
        makers = kinds(tag, victim, applied)
        hostile = [make(i) for i in range(per_kind) for make in makers.values()]
        progress(f"publishing {len(hostile)} hostile records of {len(makers)} kinds")
        await publish(producer, hostile)
        codes = [f"{HANOI}-260302-ok{tag}{i}" for i in range(valid)]
        sent_at: dict[str, float] = {}
        progress(f"publishing {valid} valid receipts behind them")
        for c in codes:
            event = status_event(c, 2)
            sent_at[c] = time.perf_counter()
            value = _bytes(event)
            await producer.send(topics.INGEST.name, value, key=c.encode(),
                                headers=dev_signed(value, "hanoi-mcdt"))
        await producer.flush()
    finally:
        await producer.stop()
    outcome = Outcome()
    seen = await wait_received(bootstrap, set(codes), wait_seconds)
    outcome.valid_seconds = [seen[c] - sent_at[c] for c in codes if c in seen]
    outcome.valid_missing = len(codes) - len(seen)
    progress("reading answers and dead letters")
    await collect(bootstrap, hostile, wait_seconds, outcome)
    return outcome


def main() -> int:
    from deploy.local.broker import LocalBroker, free_port
    from deploy.local.stack import Stack

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-kind", type=int, default=120)
    parser.add_argument("--valid", type=int, default=200)
    args = parser.parse_args()
    var = Path(mkdtemp(prefix="onestop-hostile-"))
    broker = LocalBroker(free_port(), var / "log" / "broker.log").start()
    stack = Stack(broker.bootstrap, var, ports={name: free_port() for name in SERVICES},
                  extra_env={"ONESTOP_LOG_LEVEL": "WARNING",
                             "INTAKE_PARKED_EXPIRY_HOURS": str(5 / 3600),
                             "INTAKE_PARKED_CHECK_SECONDS": "1"})
    try:
        from services.common.messaging.kafka import ensure_topics
        asyncio.run(ensure_topics(broker.bootstrap))
        stack.migrate()
        stack.start(("intake",))
        started = time.perf_counter()
        outcome = asyncio.run(run(broker.bootstrap, per_kind=args.per_kind, valid=args.valid,
                                  progress=lambda m: print(f"  {m}", flush=True)))
        process = stack.services["intake"].process
        alive = process is not None and process.poll() is None
        log_text = stack.services["intake"].log_file.read_bytes()
        personal_in_log = sum(log_text.count(v) for v in PERSONAL)
        print(json.dumps({**outcome.summary(), "intake_alive": alive,
                          "personal_values_in_intake_log": personal_in_log,
                          "seconds": round(time.perf_counter() - started, 1)}, indent=1))
        for name, row in outcome.by_kind.items():
            print(f"  {name:<32} sent {row['sent']:>5}  answered {row['answered']:>5}  "
                  f"dead-lettered {row['dead_lettered']:>5}  {','.join(row['codes'])}")
        if outcome.neither:
            print("neither answered nor dead-lettered:", *outcome.neither[:20], sep="\n  ")
        return 0 if alive and not outcome.neither and not outcome.valid_missing and \
            not personal_in_log else 1
    finally:
        stack.stop()
        broker.stop()


if __name__ == "__main__":
    raise SystemExit(main())
