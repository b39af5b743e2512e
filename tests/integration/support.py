"""Helpers for in-process integration tests: a real service runtime, a topic reader."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from services.common.runtime import Runtime


def settings_for(settings_cls: type, bootstrap: str, database_url: str, tmp: Path) -> Any:
    return settings_cls(kafka_bootstrap_servers=bootstrap, database_url=database_url,
                        var_dir=tmp, consumer_group=f"test-{uuid.uuid4().hex[:8]}",
                        reset_check_seconds=1.0)


async def started(runtime: Runtime) -> Runtime:
    await runtime.start()
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
