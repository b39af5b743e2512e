"""What a province does after it sends: it reads its answers on the feedback topic and sends
again whatever has no answer after a while.

Intake answers every record on `onestop.ingest.rejected.v1` (contracts/ingest.py): refused
(IngestRejected, naming the record's id, or its place on the topic when no id could be
read) or taken in (IngestAccepted, a batch's ids of one system: applied, parked, or taken
in before). A record the broker acknowledged can still be lost before intake reads it (a
broker restarted empty, as the local one does): only an answer proves it arrived. So each
record without one `resend_after` seconds after it was last sent is sent again, the same
bytes with the same id, signed anew; intake applies an id once and answers a record sent
again as taken in before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from contracts import topics
from contracts.ingest import IngestAccepted, IngestRejected
from deploy.simulate.records import Record

Sign = Callable[[Record], list[tuple[str, bytes]]]


@dataclass
class _Unanswered:
    record: Record
    sent_at: float  # monotonic seconds


def _place(partition: int, offset: int) -> str:
    # How an answer names a record whose id could not be read (services/intake/province_status.py).
    return f"{topics.INGEST.name}/{partition}/{offset}"


class Feedback:
    """The provinces' side of the conversation: send, listen, send again what is unanswered.

    `send` waits for the broker's acknowledgements; `run` reads the answers and resends
    until `stopping` is set; `unanswered` says what is still waited for."""

    def __init__(self, bootstrap: str, producer: AIOKafkaProducer, systems: Iterable[str],
                 sign: Sign, resend_after: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bootstrap = bootstrap
        self.producer = producer
        self.systems = set(systems)
        self.sign = sign
        self.resend_after = resend_after
        self.clock = clock
        # By what an answer names: the record's event id, else its place on the topic.
        self.waiting: dict[str, _Unanswered] = {}
        self.answered = 0
        self.resent = 0
        self._all_answered = asyncio.Event()
        self._all_answered.set()

    @property
    def unanswered(self) -> int:
        return len(self.waiting)

    async def send(self, records: list[Record]) -> None:
        """Send, and wait for the broker's acknowledgements; each then waits for its answer."""
        futures = []
        for record in records:
            ack = await self.producer.send(topics.INGEST.name, record.value, key=record.key,
                                           headers=self.sign(record))
            self.sent(record, ack)
            futures.append(ack)
        await asyncio.gather(*futures)

    def sent(self, record: Record, ack: asyncio.Future[Any]) -> None:
        """`record` was handed to the producer (`ack`: the broker's acknowledgement): it
        waits for its answer from now. One named by its place waits once the broker says
        where it is; one the broker refused waits too, and is sent again in time."""
        at = self.clock()
        if record.event_id is not None:
            self._waits(record.event_id, record, at)
        else:
            ack.add_done_callback(lambda done: None if done.cancelled() or done.exception()
                                  else self._waits(_place(done.result().partition,
                                                          done.result().offset), record, at))

    def _waits(self, name: str, record: Record, at: float) -> None:
        self.waiting[name] = _Unanswered(record, at)
        self._all_answered.clear()

    def take(self, body: dict[str, Any]) -> None:
        """One record of the feedback topic: the records it answers are no longer waited
        for (another province's acknowledgements are not read)."""
        data = body.get("data") or {}
        if body.get("type") == IngestRejected.event_type:
            names = [str(data.get("rejected_event_id"))]
        elif body.get("type") == IngestAccepted.event_type and \
                data.get("system_id") in self.systems:
            names = [*data.get("applied", ()), *data.get("parked", ()),
                     *data.get("duplicates", ())]
        else:
            return
        for name in names:
            if self.waiting.pop(name, None) is not None:
                self.answered += 1
        if not self.waiting:
            self._all_answered.set()

    async def resend_due(self) -> int:
        """Send again every record unanswered `resend_after` seconds after it was sent."""
        now = self.clock()
        due = [(name, w.record) for name, w in self.waiting.items()
               if now - w.sent_at >= self.resend_after]
        for name, record in due:
            if record.event_id is None:  # named by its place: by its new place once sent
                del self.waiting[name]
        if due:
            await self.send([record for _, record in due])
            self.resent += len(due)
        return len(due)

    async def run(self, stopping: asyncio.Event) -> None:
        """Read the answers and send again what waits too long, until `stopping`."""
        consumer = AIOKafkaConsumer(
            topics.INGEST_REJECTED.name, bootstrap_servers=self.bootstrap, group_id=None,
            # From the start of the log: after a broker restarted empty, answers republished
            # on the new log are read from its first offset.
            auto_offset_reset="earliest", enable_auto_commit=False, metadata_max_age_ms=5000)
        await consumer.start()
        last_check = self.clock()
        try:
            while not stopping.is_set():
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        with contextlib.suppress(ValueError, AttributeError):
                            self.take(json.loads(record.value))
                if self.clock() - last_check >= min(self.resend_after / 4, 5.0):
                    last_check = self.clock()
                    with contextlib.suppress(KafkaError):  # the broker away: sent next time
                        await self.resend_due()
        finally:
            await consumer.stop()

    async def settled(self) -> None:
        """Returns once every record sent was answered (`run` reads the answers)."""
        await self._all_answered.wait()
