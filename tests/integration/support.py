"""Helpers for in-process integration tests: a real service runtime, a topic reader, a
wait on a fact (`eventually`) and on a consumer group's progress (`handled`, `caught_up`)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.common.runtime import Runtime
from tests.conftest import postgres_database


def settings_for(settings_cls: type, bootstrap: str, database_url: str, tmp: Path) -> Any:
    return settings_cls(kafka_bootstrap_servers=bootstrap, database_url=database_url,
                        var_dir=tmp, consumer_group=f"test-{uuid.uuid4().hex[:8]}",
                        reset_check_seconds=1.0)


async def started(runtime: Runtime, seconds: float = 120) -> Runtime:
    """The runtime, started; a start that does not finish within `seconds` fails the test
    by name (and is stopped) instead of waiting for the suite's own timeout."""
    try:
        async with asyncio.timeout(seconds):
            await runtime.start()
    except TimeoutError:
        async with asyncio.timeout(30):
            await runtime.stop()
        raise AssertionError(f"{runtime.name} did not start within {seconds} s") from None
    return runtime


async def read_topic(bootstrap: str, topic: str, match: Callable[[dict[str, Any], Any], bool],
                     count: int = 1, wait_seconds: float = 60) -> list[tuple[dict[str, Any], Any]]:
    """Records (body, record) on `topic` whose JSON body matches, from the beginning."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    found: list[tuple[dict[str, Any], Any]] = []
    try:
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline and len(found) < count:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    try:
                        body = json.loads(record.value)
                    except ValueError:
                        continue
                    if match(body, record):
                        found.append((body, record))
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return found


async def eventually(check: Callable[[], Any], what: str, *, seconds: float = 90,
                     interval: float = 0.1) -> Any:
    """The first truthy value of `check` (sync, or returning an awaitable), polled until it
    comes; an AssertionError naming `what` and the last value or exception if it does not.

    An exception from `check` counts as "not yet" (a service still starting, a row not
    there): the next poll may pass. The default is generous because a loaded CI machine is
    slow, and a wait that succeeds costs only as long as the fact takes."""
    deadline = time.monotonic() + seconds
    last: Any = None
    while True:
        try:
            value = check()
            if inspect.isawaitable(value):
                # A check that hangs must not outlive the wait.
                async with asyncio.timeout(max(deadline - time.monotonic(), interval)):
                    value = await value
            if value:
                return value
            last = value
        except Exception as exc:  # "not yet"; reported if it lasts
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {seconds} s: {what}; last seen: {last!r}")
        await asyncio.sleep(interval)


async def listening(server: Any, task: asyncio.Task[Any], *, seconds: float = 10) -> None:
    """Waits until the uvicorn `server` that `task` runs listens; a server that stopped
    first is reported with its own error."""
    def up() -> bool:
        if task.done():
            task.result()
            raise AssertionError("the server stopped before it listened")
        return bool(server.started)
    await eventually(up, "the HTTP server to listen", seconds=seconds, interval=0.02)


def group_of(runtime: Runtime) -> str:
    """The consumer group a service's runtime reads in (services/common/runtime.py)."""
    return runtime.settings.consumer_group or f"onestop.{runtime.name}"


async def committed(bootstrap: str, group: str, partitions: list[TopicPartition]
                    ) -> dict[TopicPartition, int]:
    """A consumer group's committed offsets (the next offset it will read) on `partitions`,
    where it has one."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def handled(bootstrap: str, group: str, records: list[Any], *,
                  seconds: float = 90) -> None:
    """Waits until `group` has committed past every record (anything with topic, partition
    and offset: a ConsumerRecord, the RecordMetadata a send returns). Its consumer commits
    only after the transaction the record was handled in (services/common/messaging/consumer.py), so
    whatever the record did or did not do is done: the way to wait before asserting that
    something did NOT happen, instead of sleeping a while."""
    last: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        last[tp] = max(last.get(tp, -1), r.offset)

    async def past() -> bool:
        done = await committed(bootstrap, group, list(last))
        behind = {f"{tp.topic}/{tp.partition}": (done.get(tp), offset)
                  for tp, offset in last.items() if done.get(tp, -1) <= offset}
        assert not behind, f"(committed, record) offsets: {behind}"
        return True
    await eventually(past, f"group {group} to commit past {len(records)} record(s)",
                     seconds=seconds)


async def caught_up(bootstrap: str, group: str) -> bool:
    """Whether `group` has committed to the end of every partition of the topics it has
    committed on: whatever was on them when asked is handled."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        # Every partition asked by name: a local broker cannot answer "all of the group's".
        partitions = [TopicPartition(topic, p) for topic in await consumer.topics()
                      for p in consumer.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(partitions) if partitions else {}
    finally:
        await consumer.stop()
    done = await committed(bootstrap, group, partitions)
    read = {tp.topic for tp in done}
    return bool(read) and all(done.get(tp, 0) >= end for tp, end in ends.items()
                              if tp.topic in read)


@contextlib.asynccontextmanager
async def fresh_database(database_url: str, tmp: Path, name: str = "rebuilt"
                         ) -> AsyncIterator[str]:
    """A fresh, empty database of `database_url`'s kind (a rebuild's target)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp / f'{name}.db'}"
        return
    async with postgres_database() as url:
        yield url
