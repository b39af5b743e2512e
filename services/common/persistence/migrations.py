"""Alembic, run the same way for every service: `python -m services.<name> migrate`.

Each service keeps its revisions in `services/<name>/migrations/versions/`; its env.py is
two lines that call `run_env()` here.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, TypeDecorator, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.persistence.db import PENDING_TRIGGER_DDL, PENDING_TRIGGER_DROP

SERVICES_DIR = Path(__file__).resolve().parents[2]


def alembic_config(service: str, url: str, metadata: MetaData) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["metadata"] = metadata
    return cfg


def upgrade(service: str, url: str, metadata: MetaData) -> None:
    """Blocking; call from a thread when an event loop is running (env.py runs its own)."""
    command.upgrade(alembic_config(service, url, metadata), "head")


async def upgrade_async(service: str, url: str, metadata: MetaData) -> None:
    await asyncio.to_thread(upgrade, service, url, metadata)


def _render_item(kind: str, obj: Any, _autogen: Any) -> str | Literal[False]:
    # Migrations store the column type, not our Python-side decorator around it.
    if kind == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def _run(connection: Connection, metadata: MetaData) -> None:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      render_item=_render_item)
    with context.begin_transaction():
        context.run_migrations()


def run_env() -> None:
    cfg = context.config
    metadata: MetaData = cfg.attributes["metadata"]
    url = cfg.get_main_option("sqlalchemy.url") or ""
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    async def online() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(_run, metadata)
        await engine.dispose()

    asyncio.run(online())


# Changes to the runtime's own tables (db.py), the same in every service's database: each
# service's revision calls these, so the change is written once.
_PENDING = "published_at IS NULL AND parked_at IS NULL"


def add_outbox_parking() -> None:
    """Outbox rows the broker refused for good are set aside with their reason."""
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("park_reason", sa.String(length=500), nullable=True))
        # The relay's query, unpublished and unparked rows by seq: a partial index.
        batch_op.create_index("ix_outbox_pending", ["seq"], unique=False,
                              postgresql_where=sa.text(_PENDING),
                              sqlite_where=sa.text(_PENDING))


def drop_outbox_parking() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")
        batch_op.drop_column("park_reason")
        batch_op.drop_column("parked_at")


_PARKED = "published_at IS NULL AND parked_at IS NOT NULL"


def add_outbox_parked_index() -> None:
    """The relay counts parked rows from this partial index. Its count used to read them
    through ix_outbox_published_at, whose NULL entries include every row's version from
    before it was published: on a PostgreSQL outbox of 650,000 rows never vacuumed that was
    a bitmap scan of the whole table, 744 ms a count, twice in each full relay pass."""
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_parked", ["seq"], unique=False,
                              postgresql_where=sa.text(_PARKED),
                              sqlite_where=sa.text(_PARKED))


def drop_outbox_parked_index() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_parked")


def drop_outbox_published_at_index() -> None:
    """No query reads the outbox by `published_at` alone any more (the relay's scan and
    counts have their partial indexes, the purge and the republish go by `created_at`), yet
    every row written and every row marked published added an entry to it: on PostgreSQL
    the mark's UPDATE touched 16 buffers a row (pg_stat_statements, `make bench`)."""
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_published_at")


def restore_outbox_published_at_index() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_published_at", ["published_at"], unique=False)


def add_outbox_queue() -> None:
    """The relay's pending queue (db.py, `outbox_pending`) in place of marking rows
    published: the mark rewrote the whole row with an entry in every index, never a HOT
    update; on PostgreSQL it took 16-18 µs a row of the server's executor against 1.5-1.7 for
    a DELETE from the queue (`python -m bench.outbox_mark`). Today's pending rows are queued;
    ix_outbox_pending (over published_at) has no reader left. Made after every change to
    `outbox` here: on SQLite a batch rebuild of the table drops its triggers."""
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")
    op.create_table(
        "outbox_pending",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("seq"))
    dialect = op.get_bind().dialect.name
    for statement in PENDING_TRIGGER_DDL[dialect]:
        op.execute(statement)
    op.execute(f"INSERT INTO outbox_pending (seq) SELECT seq FROM outbox WHERE {_PENDING}")


def drop_outbox_queue() -> None:
    """Back to the mark: the rows the queue no longer holds were published. When is not
    known; their creation time stands in (a value of the column's own format on both
    databases)."""
    dialect = op.get_bind().dialect.name
    for statement in PENDING_TRIGGER_DROP[dialect]:
        op.execute(statement)
    op.execute(f"UPDATE outbox SET published_at = created_at WHERE {_PENDING} "
               "AND seq NOT IN (SELECT seq FROM outbox_pending)")
    op.drop_table("outbox_pending")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_pending", ["seq"], unique=False,
                              postgresql_where=sa.text(_PENDING),
                              sqlite_where=sa.text(_PENDING))


# The runtime's tables as every service's first revision created them (later revisions,
# e.g. add_outbox_parking, change them the same way everywhere).
def create_inbox() -> None:
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id"))


def create_outbox() -> None:
    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("traceparent", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("event_id"))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_published_at"), ["published_at"],
                              unique=False)
    op.create_table(
        "outbox_watermarks",
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("partition", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("topic", "partition"))


def drop_outbox() -> None:
    op.drop_table("outbox_watermarks")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_published_at"))
        batch_op.drop_index(batch_op.f("ix_outbox_created_at"))
    op.drop_table("outbox")


def drop_inbox() -> None:
    op.drop_table("inbox")


def create_audit_log() -> None:
    """The audit trail (db.py, audit.py), added to every service by one revision each."""
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("dossier_code", sa.String(length=64), nullable=True),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"))
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_dossier_code"), ["dossier_code"],
                              unique=False)


def drop_audit_log() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_dossier_code"))
    op.drop_table("audit_log")


def add_audit_key_id() -> None:
    """Audit rows name the key of their HMAC (audit.py); the rows before keep NULL, and
    their plain SHA-256 hashes still verify."""
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=8), nullable=True))


def drop_audit_key_id() -> None:
    """The code before reads every hash as plain SHA-256: rows keyed since no longer verify
    under it."""
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("key_id")


def create_dead_letter_replays() -> None:
    """Dead letters an operator replayed (db.py, dead_letter_replay.py)."""
    op.create_table(
        "dead_letter_replays",
        sa.Column("dlq_partition", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("dlq_offset", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("dlq_timestamp_ms", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("original_topic", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.Column("replays", sa.Integer(), nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operator", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("dlq_partition", "dlq_offset", "dlq_timestamp_ms"))


def drop_dead_letter_replays() -> None:
    op.drop_table("dead_letter_replays")
