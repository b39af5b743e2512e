"""Digitization's database: each dossier's components and whether each is digitized."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table

from services.common.db import UtcDateTime, runtime_tables

metadata = MetaData()
runtime = runtime_tables(metadata)

dossiers = Table(
    "dossiers", metadata,
    Column("code", String(64), primary_key=True),
    Column("agency_code", String(32), nullable=False),
    Column("procedure_code", String(32), nullable=False),
    Column("component_count", Integer, nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("digitized_at", UtcDateTime()),
    Column("applicant_ref", String(128)),
)

# The applicant's data warehouse (kho dữ liệu hồ sơ TTHC, seed 002 step 5), by pseudonym:
# what is held here is not asked for again (step 3(2)).
documents = Table(
    "documents", metadata,
    Column("applicant_ref", String(128), primary_key=True),
    Column("document_ref", String(200), primary_key=True),
    Column("dossier_code", String(64)),
    Column("component_code", String(64)),
    Column("source", String(64), nullable=False),  # digitized | national-database | ...
    Column("stored_at", UtcDateTime(), nullable=False),
)

components = Table(
    "components", metadata,
    Column("dossier_code", String(64), primary_key=True),
    Column("code", String(64), primary_key=True),
    Column("form", String(16), nullable=False),
    Column("document_ref", String(200)),
    Column("digitized_at", UtcDateTime()),
)
