"""Reporting's database: every event it applied, kept for good, so rebuilds and past
quarters never depend on the broker's retention."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, MetaData, String, Table

from services.common.db import Seq, UtcDateTime, runtime_tables

metadata = MetaData()
runtime = runtime_tables(metadata)

events = Table(
    "events", metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("dossier_code", String(64), nullable=False),
    Column("type", String(200), nullable=False),
    Column("source", String(100), nullable=False),
    Column("agency_code", String(32), nullable=False),
    Column("time", UtcDateTime(), nullable=False),
    Column("topic", String(200), nullable=False),
    Column("data", JSON, nullable=False),
    Index("ix_events_dossier", "dossier_code", "time"),
    Index("ix_events_type_agency", "type", "agency_code", "dossier_code"),
)
