"""The replay command's pure parts: letter ids and times as operators type them, which
letters a selection takes, which headers a replay carries, what is never replayed."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from contracts import topics
from services.common.messaging.dead_letter_replay import (
    DeadLetters,
    Letter,
    parse_id,
    parse_since,
    select_letters,
)

T0 = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def letter(offset: int, reason: str = "too-large", at: datetime = T0,
           topic: str = topics.INTAKE.name, **extra: bytes) -> Letter:
    headers = {"ce_id": b"e1", "dlq-reason": reason.encode(),
               "dlq-original-topic": topic.encode(), "dlq-original-partition": b"3",
               "dlq-original-offset": b"17", "dlq-attempts": b"1", **extra}
    return Letter(0, offset, int(at.timestamp() * 1000), b"000.01.02.H26-261205-0001",
                  b"{}", tuple(headers.items()))


def test_ids_and_times_as_typed() -> None:
    assert parse_id("0:42") == (0, 42)
    for bad in ("42", "0:x", "a:b:c"):
        with pytest.raises(argparse.ArgumentTypeError, match="partition>:<offset"):
            parse_id(bad)
    assert parse_since("2026-12-05T10:00:00+07:00") == T0
    with pytest.raises(argparse.ArgumentTypeError, match="time zone"):
        parse_since("2026-12-05T10:00:00")


def test_a_selection_takes_what_every_filter_accepts() -> None:
    later = datetime(2026, 12, 6, tzinfo=UTC)
    letters = [letter(0), letter(1, "invalid-event"), letter(2, at=later)]
    assert [x.offset for x in select_letters(letters, ids=[(0, 1), (0, 2)])] == [1, 2]
    assert [x.offset for x in select_letters(letters, reason="too-large")] == [0, 2]
    assert [x.offset for x in select_letters(letters, reason="too-large", since=later)] == [2]
    assert select_letters(letters, ids=[(0, 1)], reason="too-large") == []


def test_a_replay_carries_the_original_headers_only() -> None:
    one = letter(5, **{"traceparent": b"00-abc-def-01", "dlq-sealed": b"fernet"})
    assert one.id == "0:5" and one.sealed and one.origin == f"{topics.INTAKE.name}/3@17"
    assert one.replay_headers() == [("ce_id", b"e1"), ("traceparent", b"00-abc-def-01")]


@dataclass
class FakeRuntime:
    name: str = "intake"
    subscriptions: list[Any] = field(default_factory=lambda: [
        SimpleNamespace(topic=topics.INGEST, verify=lambda record: "hanoi-mcdt"),
        SimpleNamespace(topic=topics.SUPPLEMENTS, verify=None)])


def test_what_is_never_replayed() -> None:
    letters = DeadLetters(FakeRuntime(), "ops")  # type: ignore[arg-type]
    assert letters.refusal(letter(0, topic=topics.SUPPLEMENTS.name)) is None
    assert "signature" in (letters.refusal(letter(0, topic=topics.INGEST.name)) or "")
    assert "does not read" in (letters.refusal(letter(0, topic=topics.RESULTS.name)) or "")
    dropped = letter(0, topic=topics.SUPPLEMENTS.name, **{"dlq-value-dropped": b"2 MiB"})
    assert "value was not kept" in (letters.refusal(dropped) or "")
