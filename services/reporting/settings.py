"""Settings of the reporting service: the shared ones, read with its own prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.common.settings import ServiceSettings, prefixed
from services.law.catalog.loader import DEFAULT_DIR
from services.reporting.rubric import DEFAULT_FILE as RUBRIC_FILE


class ReportingSettings(ServiceSettings):
    model_config = prefixed("REPORTING_")

    http_port: int = 8005
    catalog_dir: Path = DEFAULT_DIR  # every catalog.v*.yaml in it, each dated
    # Access: an agency code limits what this instance shows (reports, traces, stats) to
    # its subtree; unset = the whole country. Until the security issue maps it to roles.
    scope_agency: str | None = None
    # A closed quarter is published once its cut-off is this far behind, with the figures
    # of the events recorded until then (confirm: the law locks figures at 0:00 on the 15th;
    # a day lets events recorded at the counter before the cut-off arrive).
    quarter_close_grace_hours: float = 24.0
    quarter_close_check_seconds: float = 600.0
    # `rebuild`: the fresh database the replay writes into (REPORTING_REBUILD_DATABASE_URL).
    rebuild_database_url: str | None = None
    # Records stored per transaction during a rebuild (each dossier is folded once at the
    # end, whatever the size): 20,000 keeps a transaction's records and rows to ~100 MB.
    rebuild_batch: int = 20000
    # Events a rebuild keeps in memory, parsed, to fold at the end without reading them back
    # (about 2 KB each); past it, each dossier is folded from its stored events instead.
    rebuild_memory_events: int = 200_000
    # Processes a rebuild replays in, each taking a share of the dossiers (0: one per CPU;
    # 1: in the command's own process). The replay is CPU-bound Python: one core each.
    rebuild_workers: int = Field(0, ge=0)
    # The dashboard (GET /, /api/v1/dashboard/stream): the stream checks for newly applied
    # events every poll, and pushes a snapshot when there are some, or every push anyway
    # (the clock moves dossiers into near-due and overdue without any event).
    dashboard_poll_seconds: float = 1.0
    dashboard_push_seconds: float = 15.0
    # One stream lasts this long, then the page reconnects by itself: stopping the service
    # waits for open streams to end.
    dashboard_stream_seconds: float = 30.0
    # An open dossier due within this many hours is near-due (confirm: processing alerts one
    # working day ahead, `PROCESSING_ALERT_NEAR_DAYS`).
    dashboard_near_due_hours: float = 24.0
    # The on-time rate counts the dossiers resolved in the last N days; trend charts span N days.
    dashboard_rate_days: int = 30
    dashboard_trend_days: int = 30
    dashboard_list_limit: int = 50
    # Breach forecast: a step no office has completed yet is taken to last this many working
    # days; the offices' mean step durations are scaled by the margin (1.0 = as shown).
    forecast_default_step_days: float = 1.0
    forecast_margin: float = 1.0
    # A citizen rates a returned dossier once on the public page and may change that rating
    # for this many days after giving it (Art. 31 fixes no period: a choice, stated here).
    citizen_rating_change_days: float = Field(7.0, ge=0)
    # The dated rubric that scores the Art. 30 evaluation (GET /api/v1/evaluation); read at
    # start-up, a mistake stops the service naming its line.
    evaluation_rubric: Path = RUBRIC_FILE
