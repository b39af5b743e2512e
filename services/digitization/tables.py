"""Digitization's database: each dossier's components and whether each is digitized, the
signed files it holds, and the applicants' data warehouse."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Integer, MetaData, String, Table, Text

from services.common.persistence.db import UtcDateTime, runtime_tables
from services.common.persistence.sealed_columns import SealedText

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

# The applicant's data warehouse (kho dữ liệu hồ sơ TTHC, docs/law.md#digitization), by pseudonym:
# what is held here is not asked for again (step 3(2)).
documents = Table(
    "documents", metadata,
    Column("applicant_ref", String(128), primary_key=True),
    Column("document_ref", String(200), primary_key=True),
    Column("dossier_code", String(64)),
    Column("component_code", String(64)),
    Column("source", String(64), nullable=False),  # scanned | electronic | result | ...
    Column("stored_at", UtcDateTime(), nullable=False),
    Column("document_type", String(64)),  # the component's code, or the result's type
    # Whose it is: the agency of its dossier, or of who recorded it as held. A caller sees
    # it within their agency tree (or through a dossier of their tree that reused it).
    Column("agency_code", String(32)),
)

# Signed files held here, by id ("doc-" + the first 16 hex digits of the bytes' SHA-256);
# the bytes themselves are in the content-addressed store under their full SHA-256.
files = Table(
    "files", metadata,
    Column("id", String(32), primary_key=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("size", BigInteger, nullable=False),
    Column("pages", Integer, nullable=False),
    Column("signer", String(200), nullable=False),
    Column("signed_at", UtcDateTime(), nullable=False),
    Column("kind", String(16), nullable=False),  # component | signed (by /sign)
    Column("document_type", String(64)),
    Column("created_at", UtcDateTime(), nullable=False),
    # The dossier it was made for and that dossier's agency (a result: the issuing office):
    # who may download it. None: only the whole country's callers.
    Column("dossier_code", String(64)),
    Column("agency_code", String(32)),
)

components = Table(
    "components", metadata,
    Column("dossier_code", String(64), primary_key=True),
    Column("code", String(64), primary_key=True),
    Column("form", String(16), nullable=False),
    Column("document_ref", String(200)),
    Column("digitized_at", UtcDateTime()),
    # How it was finished: electronic | reused | scanned | referenced (scanned elsewhere)
    Column("source", String(16)),
    Column("sha256", String(64)),
    Column("pages", Integer),
    Column("signer", String(200)),
    # A fragile original the office leader decided not to digitize (Decision 1333, 3(1)):
    # finished without a file, with who decided and why.
    Column("not_digitized_at", UtcDateTime()),
    Column("decided_by", String(200)),
    Column("decision", Text),
    # What OCR read of a scanned declaration form (contracts' ExtractionSummary: field names,
    # confidences and mismatch kinds, no personal value), from its latest scan: the dossier's
    # DossierDigitized carries every component's.
    Column("extraction", JSON),
)

# What the applicant declared (ApplicantRecorded, intake's private topic), per dossier: the
# scan of a declaration form is checked against it (Decision 1333, Art. 9). Personal data,
# kept only here and never put on digitization's own topic (only the mismatch kinds are),
# sealed at rest (ONESTOP_DATA_KEY); read by dossier code only.
declarations = Table(
    "declarations", metadata,
    Column("dossier_code", String(64), primary_key=True),
    Column("full_name", SealedText()),
    Column("id_number", SealedText()),
    Column("social_insurance_code", SealedText()),
    Column("recorded_at", UtcDateTime(), nullable=False),
)
