"""Processing's database: cases (what workflow.Case needs, and the law's clock), their
history (one row per transition), the steps as assigned, the applicants' identities, and
the answers kept for Idempotency-Keys."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, MetaData, String, Table, Text, text

from services.common.http.idempotency import idempotency_table
from services.common.persistence.db import Seq, UtcDateTime, runtime_tables
from services.common.persistence.sealed_columns import SealedJSON

metadata = MetaData()
runtime = runtime_tables(metadata)

cases = Table(
    "cases", metadata,
    Column("code", String(64), primary_key=True),
    Column("agency_code", String(32)),
    Column("procedure_code", String(32)),
    Column("catalog_version", String(32)),
    Column("received_at", UtcDateTime()),
    Column("due_at", UtcDateTime()),
    Column("digitized_at", UtcDateTime()),
    Column("opened_at", UtcDateTime()),
    Column("state", String(32), nullable=False),
    Column("current_step", Integer),
    # The current step's department, kept on the row so the list filters by it.
    Column("department", String(200)),
    Column("holder", String(200)),
    Column("legal_time", JSON),           # {"value", "unit"}, as on DossierReceived
    Column("clock_start", UtcDateTime()),  # receipt of the complete dossier
    Column("clock", JSON),                # clock.ClockState's periods and restarts
    Column("step_dues", JSON),            # each step's due time (ISO strings)
    Column("applicant", JSON),            # ApplicantRef: kind and pseudonym
    Column("return_channel", String(16)),
    Column("proposal", String(16)),
    Column("supplement_rounds", Integer, nullable=False, server_default="0"),
    Column("verifications", Integer, nullable=False, server_default="0"),
    Column("open_request", String(32)),
    Column("asked_agency", String(200)),
    Column("stop_notice", String(200)),
    Column("assignments", Integer, nullable=False, server_default="0"),  # steps rows so far
    Column("updated_at", UtcDateTime()),
    # The deadline monitor: the next threshold not fired yet (NULL: none pending, e.g. the
    # clock stopped or finished), the thresholds already fired (clock.Alert kinds), and
    # what `deadline=near|overdue` lists.
    Column("next_alert_at", UtcDateTime()),
    Column("alerts_fired", JSON),
    Column("deadline", String(16)),
    # A dossier a province processes in its own software (provincial.py): watched only.
    Column("origin_system", String(64)),
    # The responsible office's explanation of a late dossier ({"by", "cause"}), and the
    # apology and re-appointment letter ({"issued_at", "new_due_at", "reason", ...}).
    Column("explained_at", UtcDateTime()),
    Column("explanation", JSON),
    Column("apology", JSON),
    # How it came (the control slip's 15:00 rule is for paper at the counter), and the
    # decision as DossierResolved said it with ResultIssued's code and document, for the
    # result document.
    Column("channel", String(16)),
    Column("result", JSON),
    # What OCR read of each scanned declaration form ({component: ExtractionSummary}, no
    # personal values): a mismatch with the declaration is shown to the officer.
    Column("extraction_flags", JSON),
    # The requests to other agencies (liên thông): [{request_id, agency, requested_at,
    # sub_due_at, answered_at, answered_by}] in order; the last unanswered one is open
    # (agency_requests.py).
    Column("agency_requests", JSON),
    # A province's dossier: which of its results processing has published on the results
    # topic (["resolved", "returned"]), so each goes out once (provincial.py).
    Column("published_results", JSON),
)
# The list's keyset order, and its filters.
Index("ix_cases_received", cases.c.received_at, cases.c.code)
Index("ix_cases_agency", cases.c.agency_code, cases.c.received_at)
Index("ix_cases_state", cases.c.state)
Index("ix_cases_holder", cases.c.holder)
Index("ix_cases_department", cases.c.department)
Index("ix_cases_next_alert", cases.c.next_alert_at)
Index("ix_cases_deadline", cases.c.deadline, cases.c.received_at, cases.c.code)
# The cases still open: received and not resolved (domain.RESOLVED; a test keeps the two in
# step). The open-cases gauges count them per agency and deadline from this partial index
# every few seconds: a count by `state NOT IN` read every case ever received, resolved ones
# included, so its cost grew with the table for as long as the service ran.
OPEN_CASE = ("received_at IS NOT NULL AND state NOT IN "
             "('approved', 'denied', 'result_issued', 'returned', 'stopped', 'withdrawn')")
Index("ix_cases_open", cases.c.agency_code, cases.c.deadline,
      postgresql_where=text(OPEN_CASE), sqlite_where=text(OPEN_CASE))

case_history = Table(
    "case_history", metadata,
    Column("id", Seq, primary_key=True, autoincrement=True),
    Column("dossier_code", String(64), nullable=False, index=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("action", String(32), nullable=False),
    Column("officer", String(200)),
    Column("from_state", String(32), nullable=False),
    Column("to_state", String(32), nullable=False),
    Column("step", Integer),
    Column("note", Text),
)

applicants = Table(
    "applicants", metadata,
    Column("dossier_code", String(64), primary_key=True),
    Column("applicant_ref", String(128), nullable=False),
    # Only what a letter needs (the kind and the name: repository.keep_applicants), sealed
    # at rest (ONESTOP_DATA_KEY).
    Column("applicant", SealedJSON(), nullable=False),
)

# One row per assignment: a step sent back (return_to_step) or claimed is a new row, in
# order of `seq` within the dossier.
steps = Table(
    "steps", metadata,
    Column("dossier_code", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("step_no", Integer, nullable=False),
    Column("step_code", String(32), nullable=False),
    Column("department", String(200), nullable=False),
    Column("assignee", String(200)),
    Column("assigned_at", UtcDateTime(), nullable=False),
    Column("due_at", UtcDateTime()),
    Column("completed_at", UtcDateTime()),
    Column("outcome", String(16)),
)

idempotency = idempotency_table(metadata)
