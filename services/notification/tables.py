"""Notification's database: every message to an applicant and how it went."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table, Text

from services.common.db import UtcDateTime, runtime_tables

metadata = MetaData()
runtime = runtime_tables(metadata)

notifications = Table(
    "notifications", metadata,
    Column("id", String(36), primary_key=True),
    Column("dossier_code", String(64), nullable=False, index=True),
    Column("about_event_id", String(36), nullable=False, unique=True),
    Column("about_event", String(200), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("recipient_ref", String(128), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime()),
)
