"""Intake's own database: dossiers as received, and the daily code sequences."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Date, Integer, MetaData, String, Table

from services.common.http.idempotency import idempotency_table
from services.common.persistence.db import UtcDateTime, runtime_tables
from services.common.persistence.sealed_columns import SealedJSON

metadata = MetaData()
runtime = runtime_tables(metadata)

dossiers = Table(
    "dossiers", metadata,
    Column("code", String(64), primary_key=True),
    Column("agency_code", String(32), nullable=False, index=True),
    Column("procedure_code", String(32), nullable=False),
    Column("catalog_version", String(32), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("return_channel", String(16), nullable=False),
    Column("status", String(32), nullable=False, index=True),
    Column("received_at", UtcDateTime(), nullable=False, index=True),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("legal_time", JSON, nullable=False),
    Column("applicant_kind", String(16), nullable=False),
    Column("applicant_ref", String(128), nullable=False),
    # Personal data stays in intake's database, sealed at rest (ONESTOP_DATA_KEY).
    Column("applicant", SealedJSON(), nullable=False),
    Column("components", JSON, nullable=False),
    Column("submission_id", String(128), unique=True),
    Column("origin_system", String(64)),
    Column("updated_at", UtcDateTime(), nullable=False),
    # When the legal clock last started: receipt, or the day the dossier was made complete
    # by a supplement (Law on Social Insurance 2024: "kể từ ngày nhận đủ hồ sơ").
    Column("clock_started_at", UtcDateTime()),
    Column("officer", String(200)),
    Column("supplement_request", JSON),  # the one request listing everything, while open
    Column("reasons", JSON),  # refusal reasons
    Column("channel_reference", String(100)),  # postal tracking number / portal account
    Column("status_at", UtcDateTime()),  # when the status was true: late news cannot undo it
)

# Province events that arrived before their dossier's receipt: applied, in order, once the
# receipt arrives (events of one dossier may reach the ingest topic out of order).
parked = Table(
    "parked_province_events", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("dossier_code", String(64), nullable=False, index=True),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("envelope", SealedJSON(), nullable=False),  # may name the applicant: sealed
    # When it was parked: after INTAKE_PARKED_EXPIRY_HOURS it is answered and dropped.
    Column("parked_at", UtcDateTime(), index=True),
)

code_sequences = Table(
    "code_sequences", metadata,
    Column("agency_code", String(32), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("last", Integer, nullable=False),
)

# Answers to requests that carried an Idempotency-Key: a retry gets the same answer and
# changes nothing (the key is stored in the same transaction as the change).
idempotency = idempotency_table(metadata)
