"""Processing's database: cases, the applicant's identity it needs, and the steps."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Integer, MetaData, String, Table

from services.common.db import UtcDateTime, runtime_tables

metadata = MetaData()
runtime = runtime_tables(metadata)

cases = Table(
    "cases", metadata,
    Column("code", String(64), primary_key=True),
    Column("agency_code", String(32)),
    Column("procedure_code", String(32)),
    Column("received_at", UtcDateTime()),
    Column("due_at", UtcDateTime()),
    Column("digitized_at", UtcDateTime()),
    Column("opened_at", UtcDateTime()),
    Column("status", String(32), nullable=False),
    Column("current_step", Integer),
    Column("catalog_version", String(32)),
)

applicants = Table(
    "applicants", metadata,
    Column("dossier_code", String(64), primary_key=True),
    Column("applicant_ref", String(128), nullable=False),
    Column("applicant", JSON, nullable=False),
)

steps = Table(
    "steps", metadata,
    Column("dossier_code", String(64), primary_key=True),
    Column("step_no", Integer, primary_key=True, autoincrement=False),
    Column("step_code", String(32), nullable=False),
    Column("department", String(200), nullable=False),
    Column("assigned_at", UtcDateTime(), nullable=False),
    Column("due_at", UtcDateTime()),
    Column("completed_at", UtcDateTime()),
)
