"""Reporting's database. For whoever builds on it (the dashboard, delay attribution, ...):

`events` — every event reporting applied, as it came, kept for good (rebuilds, `as_of`
    reports and traces never depend on the broker's retention). `time` is the envelope time
    (when the producer recorded the event); `as_of` reports keep the events with
    `time <= as_of`.

`dossier_facts` — one row per dossier, folded from ALL its events by
    `services/reporting/facts.py` (pure; the same events in any order give the same row,
    whether folded at once or a batch at a time). Times are aware UTC. Columns:
    agency_code, procedure_code, catalog_version — from the receipt (else the decision,
        refusal, digitization, result, else the envelope's agency);
    channel — counter/postal/online/provincial; "" when never received (refused only);
    origin_system / province_processed — reported by a province's own software or not;
    received_at (real time), legal_received_at (Decree 45/2020: after closing or on a day
        off = the next working day's opening), receipt_day (its local date);
    original_due_at (appointment at receipt), due_at (legal appointment: a complete
        supplement with a new appointment restarts it; an apology never moves it),
        apology / apology_due_at (the promised new time, for display only);
    supplement_count, supplement_open, supplement_periods (JSON [[from, to|null], ...]);
    digitized_at; resolved_at, decision (approved/denied), timeliness (early/on_time/late
        of resolved_at against due_at, recomputed with the law's rule); returned_at;
    refused_at (DossierRejected), withdrawn_at;
    overdue (processing said so, or resolved late), overdue_at, explained, explained_at;
    step_count; status (withdrawn/returned/resolved/refused/awaiting_supplement/
        in_progress/unknown); event_count, first_recorded_at, last_recorded_at (envelope
        times: a dashboard's "changed since");
    fold_state — not a figure: what the fold needs besides the row to add the dossier's
        next event without reading its events again (`facts.DossierFold.memo`: the latest
        event folded, the step holdings still open, ...); null for a row folded before
        it existed (the dossier is then folded again from its events).

`step_facts` — who held the dossier from when to when: one row per assignment
    (dossier_code, idx in time order), step_no, step_code, department, assignee, from_at,
    to_at (null while held), step_due_at, outcome (of the completion), working_seconds
    (office hours of the agency's working days between from_at and to_at).

`daily_figures` — per (day, agency_code, procedure_code, channel), counts of dossiers:
    received (by legal receipt day), online, resolved, early, on_time, late (by resolution
    day), returned, refused, withdrawn, overdue (by the day it was found overdue). Days are
    Asia/Ho_Chi_Minh dates. Kept equal to the sum of every fact's contribution
    (`facts.contributions`); rows that fall to zero are deleted.

`ratings` — the applicant's satisfaction with a returned dossier (1–5 and a comment): one
    per dossier and origin (`citizen`: given on the public page; `counter_survey`: entered
    by an officer), folded from the DossierRated events of reporting's own topic (the POST
    writes its row and its event together): the latest (rated_at, event_id) wins, in any
    order; event_id is null for rows written before ratings were events;
    changeable_until: until when the citizen may change theirs.

`closed_quarters` — one row per (year, quarter, agency_code) published as
    QuarterlyReportClosed; its primary key makes the publication happen once across replicas.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
)

from services.common.persistence.db import JsonText, Seq, UtcDateTime, runtime_tables
from services.reporting.facts import MEASURES

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
    Column("data", JsonText(), nullable=False),  # written as the event's own JSON text
    Index("ix_events_dossier", "dossier_code", "time"),
    Index("ix_events_type_agency", "type", "agency_code", "dossier_code"),
    Index("ix_events_time", "time"),  # as_of reports: the events recorded until then
)

dossier_facts = Table(
    "dossier_facts", metadata,
    Column("dossier_code", String(64), primary_key=True),
    Column("agency_code", String(32), nullable=False),
    Column("procedure_code", String(64), nullable=False),
    Column("catalog_version", String(64)),
    Column("channel", String(16), nullable=False),
    Column("return_channel", String(16)),
    Column("origin_system", String(200)),
    Column("province_processed", Boolean, nullable=False),
    Column("received_at", UtcDateTime()),
    Column("legal_received_at", UtcDateTime()),
    Column("receipt_day", Date),
    Column("original_due_at", UtcDateTime()),
    Column("due_at", UtcDateTime()),
    Column("apology_due_at", UtcDateTime()),
    Column("digitized_at", UtcDateTime()),
    Column("supplement_count", Integer, nullable=False),
    Column("supplement_open", Boolean, nullable=False),
    Column("supplement_periods", JSON, nullable=False),
    Column("resolved_at", UtcDateTime()),
    Column("decision", String(16)),
    Column("timeliness", String(16)),
    Column("returned_at", UtcDateTime()),
    Column("refused_at", UtcDateTime()),
    Column("withdrawn_at", UtcDateTime()),
    Column("overdue", Boolean, nullable=False),
    Column("overdue_at", UtcDateTime()),
    Column("explained", Boolean, nullable=False),
    Column("explained_at", UtcDateTime()),
    Column("apology", Boolean, nullable=False),
    Column("step_count", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("event_count", Integer, nullable=False),
    Column("first_recorded_at", UtcDateTime()),
    Column("last_recorded_at", UtcDateTime()),
    Column("fold_state", JSON),
    Index("ix_facts_agency_receipt", "agency_code", "receipt_day"),
    Index("ix_facts_legal_received", "legal_received_at"),
    Index("ix_facts_status", "status", "agency_code"),
    # The dashboard: the latest changed dossiers, the overdue list, one office's dossiers.
    Index("ix_facts_last_recorded", "last_recorded_at"),
    Index("ix_facts_overdue", "overdue", "overdue_at"),
    Index("ix_facts_agency_procedure", "agency_code", "procedure_code"),
)

step_facts = Table(
    "step_facts", metadata,
    Column("dossier_code", String(64), nullable=False),
    Column("idx", SmallInteger, nullable=False),
    Column("agency_code", String(32), nullable=False),
    Column("step_no", SmallInteger, nullable=False),
    Column("step_code", String(64), nullable=False),
    Column("department", String(200), nullable=False),
    Column("assignee", String(200)),
    Column("from_at", UtcDateTime()),
    Column("to_at", UtcDateTime()),
    Column("step_due_at", UtcDateTime()),
    Column("outcome", String(16)),
    Column("working_seconds", Integer),
    PrimaryKeyConstraint("dossier_code", "idx"),
    Index("ix_steps_holder", "agency_code", "department", "assignee"),
)

daily_figures = Table(
    "daily_figures", metadata,
    Column("day", Date, nullable=False),
    Column("agency_code", String(32), nullable=False),
    Column("procedure_code", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    *(Column(m, Integer, nullable=False, default=0) for m in MEASURES),
    PrimaryKeyConstraint("day", "agency_code", "procedure_code", "channel"),
    Index("ix_daily_agency_day", "agency_code", "day"),
)

closed_quarters = Table(
    "closed_quarters", metadata,
    Column("year", SmallInteger, nullable=False),
    Column("quarter", SmallInteger, nullable=False),
    Column("agency_code", String(32), nullable=False),
    Column("closed_at", UtcDateTime(), nullable=False),
    Column("event_id", String(36), nullable=False),
    PrimaryKeyConstraint("year", "quarter", "agency_code"),
)

ratings = Table(
    "ratings", metadata,
    Column("dossier_code", String(64), primary_key=True),
    Column("origin", String(16), primary_key=True, server_default="counter_survey"),
    Column("agency_code", String(32), nullable=False),
    Column("score", SmallInteger, nullable=False),
    Column("comment", String(2000), nullable=False),
    Column("rated_at", UtcDateTime(), nullable=False),
    Column("event_id", String(36)),
    Column("changeable_until", UtcDateTime()),
    Index("ix_ratings_agency", "agency_code"),
)
