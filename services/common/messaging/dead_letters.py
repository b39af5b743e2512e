"""Dead-letter publishing: a record a service cannot apply goes to its dead-letter topic
`onestop.dlq.<service>.v1` with the reason and its origin in headers, sealed when its topic
carries personal data. A batch's dead letters are published together, and the consumer
commits past them only once the broker has acknowledged every one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord

from contracts.envelope import Envelope
from services.common.messaging.retry import is_transient
from services.common.observability.logs import get_logger
from services.common.observability.metrics import RuntimeMetrics
from services.common.observability.redaction import mask

log = get_logger(__name__)

# topic name and value of a dead record -> the value to dead-letter and headers to add
DeadLetterValue = Callable[[str, bytes], tuple[bytes, list[tuple[str, bytes]]]]


class DeadLetter(Exception):
    """Why a record cannot be applied; `envelope` when it could be read."""

    def __init__(self, reason: str, detail: str, envelope: Envelope | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.envelope = envelope

    def kept(self) -> DeadLetter:
        """This refusal as kept until the batch's dead letters are published: without the
        frames it was raised through, nor the error it was raised from (its text is in
        `detail`). A kept traceback reaches the frame that holds the list it is kept in: a
        cycle that held the whole batch (its records, their events) until the garbage
        collector found it."""
        self.__cause__ = self.__context__ = None
        return self.with_traceback(None)


def keep_value(topic: str, value: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    return value, []


def _failed(exc: BaseException) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_exception(exc)
    return future


class DeadLetterPublisher:
    def __init__(self, service: str, producer: AIOKafkaProducer, topic: str,
                 metrics: RuntimeMetrics, value_for: DeadLetterValue = keep_value) -> None:
        self.service = service
        self.producer = producer
        self.topic = topic
        self.metrics = metrics
        self.value_for = value_for

    async def publish(self, dead: list[tuple[ConsumerRecord, DeadLetter, int]]) -> None:
        """Publish a batch's dead letters together; the offsets may not move past them until
        the broker has acknowledged every one."""
        pending = []
        for record, reason, attempts in dead:
            value, sealed = self.value_for(record.topic, record.value or b"")
            headers = [
                # A sealed record keeps only the headers the runtime itself understands: a
                # producer's own headers could carry what the sealing hides.
                *((k, v) for k, v in record.headers or ()
                  if not sealed or k in ("traceparent", "ce_id", "ce_type")),
                ("dlq-reason", reason.reason.encode()),
                ("dlq-detail", mask(reason.detail)[:1000].encode()),
                ("dlq-original-topic", record.topic.encode()),
                ("dlq-original-partition", str(record.partition).encode()),
                ("dlq-original-offset", str(record.offset).encode()),
                ("dlq-attempts", str(attempts).encode()),
                ("dlq-consumer", self.service.encode()),
                *sealed,
            ]
            pending.append((record, reason, value, headers))
        while pending:
            sent = []
            for entry in pending:
                record, _, value, headers = entry
                try:
                    sent.append((entry, await self.producer.send(
                        self.topic, value, key=record.key, headers=headers)))
                except Exception as exc:  # refused before it left (e.g. too large)
                    sent.append((entry, _failed(exc)))
            retry, broker_away = [], False
            for entry, outcome in zip(pending, await asyncio.gather(
                    *(f for _, f in sent), return_exceptions=True), strict=True):
                record, reason, value, headers = entry
                if not isinstance(outcome, BaseException):
                    self._counted(record, reason)
                elif not is_transient(outcome) and value:
                    # The broker will never take it (e.g. too large): keep the evidence that
                    # it existed and why, without the bytes, rather than block the topic.
                    log.error("dead letter refused by the broker; sending it without its "
                              "value", error=repr(outcome), size=len(value))
                    headers.append(("dlq-value-dropped", f"{len(value)} bytes: "
                                    f"{type(outcome).__name__}".encode()))
                    retry.append((record, reason, b"", headers))
                elif not is_transient(outcome):
                    # Not even its headers are taken: say so loudly rather than block the
                    # topic forever behind it.
                    log.error("dead letter could not be published; record skipped",
                              topic=record.topic, partition=record.partition,
                              offset=record.offset, reason=reason.reason, error=repr(outcome))
                    self.metrics.dead_letters(topic=record.topic, reason="unpublishable").inc()
                else:
                    log.warning("dead-letter publish failed; retrying", error=repr(outcome))
                    retry.append(entry)
                    broker_away = True
            if broker_away:
                await asyncio.sleep(1.0)  # wait before sending again
            pending = retry

    def _counted(self, record: ConsumerRecord, reason: DeadLetter) -> None:
        self.metrics.dead_letters(topic=record.topic, reason=reason.reason).inc()
        log.warning("record dead-lettered", topic=record.topic, partition=record.partition,
                    offset=record.offset, reason=reason.reason,
                    detail=mask(reason.detail)[:300])
