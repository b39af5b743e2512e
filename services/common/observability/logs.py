"""Structured logs with personal data masked (traces are OpenTelemetry's: tracing.py)."""

from __future__ import annotations

import logging
import sys

import structlog

from services.common.observability.redaction import (
    MaskingFormatter,
    MaskingRenderer,
    masking_excepthook,
    masking_record_factory,
)


def configure_logging(service: str, level: str = "INFO") -> None:
    """JSON lines on stderr, with personal numbers and e-mails masked on every path out:
    structlog's rendered line, the root handler's formatted record (tracebacks included),
    records of handlers configured by others (uvicorn's), and uncaught exceptions."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    # Replace our own handler on a second call; leave handlers others installed (pytest's).
    for old in [h for h in root.handlers if getattr(h, "_onestop", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(MaskingFormatter("%(message)s"))
    handler._onestop = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    if not getattr(logging.getLogRecordFactory(), "masking", False):
        logging.setLogRecordFactory(masking_record_factory(logging.getLogRecordFactory()))
    sys.excepthook = masking_excepthook
    for noisy in ("aiokafka", "uvicorn.access", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # log.exception(...): the traceback as text, so the renderer below masks it.
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("msg"),
            MaskingRenderer(structlog.processors.JSONRenderer(ensure_ascii=False)),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        # Reconfiguring must reach loggers already bound at import time (module-level `log`).
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
