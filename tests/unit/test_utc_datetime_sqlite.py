"""What SQLite stores for a UtcDateTime column: bulk.py's writer binds it in one step
(UtcDateTime.sqlite_text), and it must be the very text SQLAlchemy's own path writes
(process_bind_param, then the SQLite DATETIME processor), or rows written by the two would
sort and compare apart."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import AwareDatetime, TypeAdapter
from sqlalchemy.dialects import sqlite

from services.common.persistence.bulk import _bind
from services.common.persistence.db import UtcDateTime


def test_one_step_writes_the_text_sqlalchemys_two_layers_write() -> None:
    dialect = sqlite.dialect()
    theirs = UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
    ours = _bind(UtcDateTime(), dialect)
    assert ours is UtcDateTime.sqlite_text and theirs is not None
    rng = random.Random(7)
    values = [datetime(2026, 12, 5, 3, 43, 23, 0, tzinfo=timezone(timedelta(hours=7))),
              datetime(2000, 1, 1, tzinfo=UTC), datetime(2099, 12, 31, 23, 59, 59, 999999,
                                                          tzinfo=timezone(timedelta(hours=-9)))]
    start = datetime(2000, 1, 1, tzinfo=UTC)
    values += [(start + timedelta(seconds=rng.randrange(3 * 10**9),
                                  microseconds=rng.choice([0, rng.randrange(10**6)])))
               .astimezone(timezone(timedelta(minutes=rng.randrange(-720, 841, 15))))
               for _ in range(500)]
    # As the contracts parse them: pydantic-core's own tzinfo.
    parsed = TypeAdapter(AwareDatetime)
    values += [parsed.validate_json(f'"{text}"') for text in (
        "2026-03-02T08:15:00+07:00", "2026-03-02T01:15:00Z", "2026-12-31T23:59:59.5-03:30",
        "2026-01-01T00:00:00+05:45", "2000-01-01T00:00:00.000001+14:00")]
    for value in values:
        assert ours(value) == theirs(value)
    assert ours(None) is None and theirs(None) is None
    assert ours(values[0]) == "2026-12-04 20:43:23.000000"  # UTC, microseconds always
    with pytest.raises(ValueError, match="naive"):
        ours(datetime(2026, 12, 5, 3, 43))


def test_other_types_and_postgresql_keep_their_own_processors() -> None:
    from sqlalchemy import String
    from sqlalchemy.dialects import postgresql

    assert _bind(UtcDateTime(), postgresql.dialect()) is not UtcDateTime.sqlite_text
    assert _bind(String(10), sqlite.dialect()) is None


def test_a_writers_records_are_its_columns_values_converted_in_row_order() -> None:
    from sqlalchemy import Column, Integer, MetaData, String, Table

    from services.common.persistence.bulk import _writer

    table = Table("t", MetaData(), Column("id", Integer, primary_key=True),
                  Column("name", String(10)), Column("at", UtcDateTime()))
    writer = _writer(table, ("id", "name", "at"), sqlite.dialect())
    assert writer is not None
    shared = datetime(2026, 12, 7, 8, tzinfo=timezone(timedelta(hours=7)))
    # A run of one object, an equal one that is another object, None, then the first again.
    times = [shared, shared, shared.astimezone(UTC), None, shared, datetime(
        2026, 12, 7, 1, 0, 0, 5, tzinfo=UTC)]
    rows = [{"id": i, "name": f"n{i}", "at": at} for i, at in enumerate(times)]
    assert writer.records(rows) == [
        (i, f"n{i}", None if at is None else UtcDateTime.sqlite_text(at))
        for i, at in enumerate(times)]
    assert writer.records(rows)[1][2] == "2026-12-07 01:00:00.000000"
    assert writer.records([]) == []
    with pytest.raises(ValueError, match="naive"):
        writer.records([{"id": 1, "name": "x", "at": datetime(2026, 12, 7)}])
