"""Personal columns sealed at rest: column types that encrypt on the way in and open on the
way out, the Alembic helpers that seal rows written before, and the key-rotation command.

A `SealedText` or `SealedJSON` column holds an AES-GCM token (sealing.ColumnSealer, keys
`ONESTOP_DATA_KEY`: the first seals, every one opens); the repository reads and writes
plain values as before, one statement per table per batch: encryption is per value, in
Python, inside SQLAlchemy's bind and result processing. A sealed column cannot be searched
or compared in SQL; a service that must look rows up by a personal value keeps a keyed hash
beside it (today every lookup is by the pseudonym `applicant_ref`, already an HMAC).

The outbox's payloads of events bound for a topic that carries personal data
(`sealing.carries_personal_data`: `onestop.intake.private.v1`, `onestop.contacts.v1`) are
sealed the same way by the writer (`seal_payload`) and opened by the relay just before it
publishes (`open_payload`), so the broker and every consumer see the event as before. Only
those rows are sealed (two of the events of a dossier): the other topics' payloads hold no
personal value and are stored and published as they are. A payload in clear (a row written
before) is published as it is: a token starts with `A1.`, an envelope with `{`.

Rotating (docs/personal-data.md): put the new key first, restart, then
`python -m services.common.persistence.sealed_columns rotate <service>` re-seals every
sealed value of
that service's database (columns and outbox payloads) under the new key, after which the
old key can be dropped.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy import MetaData, Table, Text, TypeDecorator
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.types import TypeEngine

from services.common.sealing import (
    ColumnSealer,
    carries_personal_data,
    data_sealer,
    topics_without_personal_data,
)

# Every sealed value starts so; no clear JSON, phone number, e-mail, name or ID number does.
_TOKEN_PREFIX = ColumnSealer.PREFIX


def is_sealed(value: str) -> bool:
    return value.startswith(_TOKEN_PREFIX)


def seal_text(value: str) -> str:
    return data_sealer().seal(value.encode()).decode("ascii")


def open_text(value: str) -> str:
    return data_sealer().unseal(value.encode("ascii")).decode()


class SealedText(TypeDecorator[str]):
    """A string sealed at rest (TEXT: a token is about 1.4 × the value + 80 characters)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else seal_text(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else open_text(value)


class SealedJSON(TypeDecorator[Any]):
    """A JSON document sealed at rest (as JSON's column type, minus SQL paths into it)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return seal_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(open_text(value))


def sealed_columns(metadata: MetaData) -> dict[str, list[str]]:
    """Table name -> its sealed columns, for every table of `metadata` that has one."""
    found: dict[str, list[str]] = {}
    for table in metadata.sorted_tables:
        names = [c.name for c in table.columns if isinstance(c.type, SealedText | SealedJSON)]
        if names:
            found[table.name] = names
    return found


def _rewrite(conn: Connection, table: str, key: Sequence[str], columns: Sequence[str],
             change: Any) -> int:
    """Each non-null value of `columns` replaced by change(value) (None: left as it is), in
    one executemany; raw text, no type processing. Returns the rows rewritten."""
    t = sa.table(table, *[sa.column(c) for c in (*key, *columns)])
    updates = []
    for row in conn.execute(sa.select(t)).mappings():
        values = {c: change(row[c]) for c in columns if row[c] is not None}
        values = {c: v for c, v in values.items() if v is not None}
        if values:
            # Every row names every column, so one statement serves the whole table.
            updates.append({**{f"k_{k}": row[k] for k in key},
                            **{f"v_{c}": values.get(c, row[c]) for c in columns}})
    if updates:
        conn.execute(sa.update(t).where(*[t.c[k] == sa.bindparam(f"k_{k}") for k in key])
                     .values({c: sa.bindparam(f"v_{c}") for c in columns}), updates)
    return len(updates)


def seal_clear_rows(conn: Connection, table: str, key: Sequence[str], columns: Sequence[str],
                    reduce: Callable[[str], str] = str) -> int:
    """In a revision, after the columns became TEXT: seal the values still in clear (a JSON
    column's text is sealed as it is, which is what SealedJSON opens), each first passed
    through `reduce` (to drop what the service should never have kept)."""
    return _rewrite(conn, table, key, columns,
                    lambda v: None if is_sealed(str(v)) else seal_text(reduce(str(v))))


def open_sealed_rows(conn: Connection, table: str, key: Sequence[str],
                     columns: Sequence[str]) -> int:
    """A revision's downgrade: the sealed values back in clear, before the type goes back."""
    return _rewrite(conn, table, key, columns,
                    lambda v: open_text(str(v)) if is_sealed(str(v)) else None)


def seal_columns(table: str, key: Sequence[str], columns: dict[str, TypeEngine[Any]],
                 reduce: Callable[[str], str] = str) -> None:
    """A revision's upgrade: `columns` (name -> type before) become TEXT, and the values
    written before are sealed (after `reduce`)."""
    with op.batch_alter_table(table) as batch:
        for name, old in columns.items():
            batch.alter_column(name, existing_type=old, type_=sa.Text(),
                               postgresql_using=f"{name}::text")
    seal_clear_rows(op.get_bind(), table, key, list(columns), reduce)


def unseal_columns(table: str, key: Sequence[str], columns: dict[str, TypeEngine[Any]]
                   ) -> None:
    """Its downgrade: the values opened, the columns back to their types."""
    conn = op.get_bind()
    open_sealed_rows(conn, table, key, list(columns))
    with op.batch_alter_table(table) as batch:
        for name, old in columns.items():
            batch.alter_column(name, existing_type=sa.Text(), type_=old,
                               postgresql_using=f"{name}::{old.compile(dialect=conn.dialect)}")


# --- outbox payloads of events bound for personal topics -----------------------------------

_SEALED_PAYLOAD = _TOKEN_PREFIX.encode("ascii")


def is_sealed_payload(payload: bytes) -> bool:
    return payload.startswith(_SEALED_PAYLOAD)


def seal_payload(topic: str, payload: bytes) -> bytes:
    """An outbox payload as it is stored: sealed when its topic carries personal data."""
    return data_sealer().seal(payload) if carries_personal_data(topic) else payload


def open_payload(stored: bytes) -> bytes:
    """The payload to publish: opened when sealed, as it is otherwise (SealError when no key
    opens it: the relay parks that row with the reason)."""
    return data_sealer().unseal(stored) if is_sealed_payload(stored) else stored


def _rewrite_payloads(conn: Connection, change: Callable[[bytes], bytes | None]) -> int:
    """Each outbox payload of a topic that may be sealed replaced by change(payload) (None:
    left as it is), in one executemany. Returns the rows rewritten."""
    t = sa.table("outbox", sa.column("seq"), sa.column("topic"),
                 sa.column("payload", sa.LargeBinary()))
    rows = conn.execute(sa.select(t.c.seq, t.c.payload).where(
        t.c.topic.not_in(topics_without_personal_data()))).all()
    updates = [{"k_seq": seq, "v_payload": new} for seq, payload in rows
               if (new := change(bytes(payload))) is not None]
    if updates:
        conn.execute(sa.update(t).where(t.c.seq == sa.bindparam("k_seq")).values(
            payload=sa.bindparam("v_payload", type_=sa.LargeBinary())), updates)
    return len(updates)


def seal_outbox_rows(conn: Connection) -> int:
    """In a revision: seal the payloads of personal topics written in clear before."""
    sealer = data_sealer()
    return _rewrite_payloads(conn, lambda p: None if is_sealed_payload(p) else sealer.seal(p))


def open_outbox_rows(conn: Connection) -> int:
    """Its downgrade: the code before publishes payloads as they are stored."""
    sealer = data_sealer()
    return _rewrite_payloads(conn, lambda p: sealer.unseal(p) if is_sealed_payload(p) else None)


def seal_outbox_payloads() -> None:
    """A revision's upgrade, the same in every service's database."""
    seal_outbox_rows(op.get_bind())


def open_outbox_payloads() -> None:
    """Its downgrade."""
    open_outbox_rows(op.get_bind())


def reseal(conn: Connection, metadata: MetaData) -> dict[str, int]:
    """Every sealed value of the database (columns, outbox payloads) re-sealed under the
    first key (rotation)."""
    sealer = data_sealer()
    done: dict[str, int] = {}
    for name, columns in sealed_columns(metadata).items():
        table: Table = metadata.tables[name]
        key = [c.name for c in table.primary_key.columns]
        done[name] = _rewrite(conn, name, key, columns, lambda v: sealer.rotate(
            str(v).encode("ascii")).decode("ascii"))
    if "outbox" in metadata.tables:
        done["outbox"] = _rewrite_payloads(
            conn, lambda p: sealer.rotate(p) if is_sealed_payload(p) else None)
    return done


async def reseal_database(url: str, metadata: MetaData) -> dict[str, int]:
    from services.common.persistence.db import make_engine  # the engine's pragmas, only when run

    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(reseal, metadata)
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "rotate":
        print("usage: python -m services.common.persistence.sealed_columns rotate SERVICE\n"
              "  re-seals every sealed column of SERVICE's database under the first key of\n"
              "  ONESTOP_DATA_KEY (its database from the service's own settings)",
              file=sys.stderr)
        return 2
    service = args[1]
    tables = importlib.import_module(f"services.{service}.tables")
    settings_module = importlib.import_module(f"services.{service}.settings")
    from services.common.settings import ServiceSettings

    settings_class = next(v for v in vars(settings_module).values() if isinstance(v, type)
                          and issubclass(v, ServiceSettings) and v is not ServiceSettings)
    url = settings_class().db_url(service)
    # Run as __main__, this module is a second copy: the tables' column types are the
    # imported module's, so its functions must be the ones that look for them.
    this = importlib.import_module("services.common.persistence.sealed_columns")
    done = asyncio.run(this.reseal_database(url, tables.metadata))
    for table, rows in done.items():
        print(f"{table}: {rows} rows re-sealed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
