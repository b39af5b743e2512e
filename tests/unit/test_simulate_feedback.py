"""A simulated province waits for an answer to each record it sent and sends again, after a
while, what has none (deploy/simulate/feedback.py); another province's acknowledgements
answer nothing of its own."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from contracts.ingest import IngestAccepted, IngestRejected
from deploy.simulate.feedback import Feedback
from deploy.simulate.records import Record


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, topic: str, value: bytes, key: bytes, headers: Any
                   ) -> asyncio.Future[Any]:
        self.sent.append(value)
        offset = len(self.sent)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(type("Ack", (), {"partition": 0, "offset": offset})())
        return done


def _record(n: int, event_id: str | None) -> Record:
    return Record(b"k", f"value {n}".encode(), "hanoi-mcdt", datetime.now(UTC), "code",
                  "event", event_id=event_id)


def _accepted(system: str, **lists: list[str]) -> dict[str, Any]:
    return {"type": IngestAccepted.event_type, "data": {"system_id": system, **lists}}


async def test_what_has_no_answer_is_sent_again_after_a_while_and_only_that() -> None:
    now = [0.0]
    producer = FakeProducer()
    feedback = Feedback("unused", producer, {"hanoi-mcdt"}, lambda r: [],  # type: ignore[arg-type]
                        resend_after=10.0, clock=lambda: now[0])
    await feedback.send([_record(1, "a"), _record(2, "b"), _record(3, "c"),
                         _record(4, None)])  # unreadable: its answer names its place
    feedback.take(_accepted("hanoi-mcdt", applied=["a"], parked=[], duplicates=[]))
    feedback.take(_accepted("hcm-mcdt", applied=["b"]))  # another province's: not ours
    feedback.take({"type": IngestRejected.event_type,
                   "data": {"rejected_event_id": "onestop.ingest.v1/0/4"}})
    now[0] = 9.0
    assert await feedback.resend_due() == 0
    now[0] = 10.0
    assert await feedback.resend_due() == 2  # b and c, the same bytes
    assert producer.sent[-2:] == [b"value 2", b"value 3"]
    feedback.take(_accepted("hanoi-mcdt", applied=[], parked=["c"], duplicates=["b"]))
    assert feedback.unanswered == 0 and feedback.resent == 2
    await asyncio.wait_for(feedback.settled(), 1)


async def test_an_unreadable_record_sent_again_waits_under_its_new_place() -> None:
    now = [0.0]
    producer = FakeProducer()
    feedback = Feedback("unused", producer, {"hanoi-mcdt"}, lambda r: [],  # type: ignore[arg-type]
                        resend_after=1.0, clock=lambda: now[0])
    await feedback.send([_record(1, None)])
    await asyncio.sleep(0)  # the broker's acknowledgement names its place
    now[0] = 1.0
    assert await feedback.resend_due() == 1
    await asyncio.sleep(0)
    assert list(feedback.waiting) == ["onestop.ingest.v1/0/2"]
