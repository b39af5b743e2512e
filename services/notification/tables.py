"""Notification's database: the facts of each dossier it needs to choose recipients, the
applicants' contacts (personal data, kept here and nowhere broad), and the send queue, which
is also the in-app inbox and the record of every message."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text

from services.common.persistence.db import UtcDateTime, runtime_tables
from services.common.persistence.sealed_columns import SealedText

metadata = MetaData()
runtime = runtime_tables(metadata)

# What notification knows of a dossier, folded from intake's and processing's events.
dossiers = Table(
    "dossiers", metadata,
    Column("code", String(64), primary_key=True),
    Column("agency_code", String(32)),
    Column("procedure_code", String(64)),
    Column("catalog_version", String(64)),
    Column("applicant_ref", String(128)),
    Column("due_at", UtcDateTime()),
    Column("department", String(200)),
    Column("assignee", String(200)),
    Column("near_at", UtcDateTime()),
    Column("overdue_at", UtcDateTime()),
    # When an overdue dossier still open goes up to the leader and the national unit.
    Column("escalate_at", UtcDateTime()),
    Column("escalated_at", UtcDateTime()),
    Column("closed_at", UtcDateTime()),
)
Index("ix_dossiers_escalate", dossiers.c.escalate_at,
      postgresql_where=dossiers.c.escalated_at.is_(None),
      sqlite_where=dossiers.c.escalated_at.is_(None))

# From ContactsRecorded on intake's narrow contacts topic only: phone and e-mail, never the
# applicant's personal numbers; sealed at rest (ONESTOP_DATA_KEY), read by pseudonym.
contacts = Table(
    "contacts", metadata,
    Column("applicant_ref", String(128), primary_key=True),
    Column("phone", SealedText()),
    Column("email", SealedText()),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# One row per (event, recipient, channel): `dedup_key` makes redeliveries insert nothing.
messages = Table(
    "messages", metadata,
    Column("id", String(36), primary_key=True),
    Column("dedup_key", String(64), nullable=False, unique=True),
    Column("dossier_code", String(64), index=True),
    Column("agency_code", String(32), nullable=False),
    Column("about_event", String(100), nullable=False),
    Column("about_event_id", String(100), nullable=False),
    Column("audience", String(32), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("recipient", String(200), nullable=False),  # officer id or applicant pseudonym
    Column("address", String(500)),  # e-mail, phone or URL; an applicant's is looked up
    Column("subject", String(500)),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending, sent, failed, skipped
    Column("attempts", Integer, nullable=False),
    Column("not_before", UtcDateTime(), nullable=False),
    Column("last_error", String(500)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime()),
    Column("read_at", UtcDateTime()),
)
_pending = messages.c.status == "pending"
Index("ix_messages_pending", messages.c.not_before, postgresql_where=_pending,
      sqlite_where=_pending)
Index("ix_messages_inbox", messages.c.recipient, messages.c.channel, messages.c.created_at)
