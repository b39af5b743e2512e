"""Structured logs, and the W3C traceparent text carried from HTTP through every topic
(the spans themselves are OpenTelemetry's: tracing.py)."""

from __future__ import annotations

import contextvars
import logging
import re
import secrets
import sys

import structlog

from services.common.redaction import (
    MaskingFormatter,
    MaskingRenderer,
    masking_excepthook,
    masking_record_factory,
)

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
current_traceparent: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "traceparent", default=None
)


def new_traceparent() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def child_traceparent(parent: str | None) -> str:
    """Same trace, new span: keeps one dossier's trace whole across services."""
    match = _TRACEPARENT.match(parent or "")
    if not match:
        return new_traceparent()
    return f"00-{match.group(1)}-{secrets.token_hex(8)}-{match.group(3)}"


def parse_traceparent(value: str | bytes | None) -> tuple[int, int, int] | None:
    """(trace id, span id, flags) of a W3C traceparent; None when absent or malformed (an
    all-zero id is invalid too)."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    match = _TRACEPARENT.match(value or "")
    if not match:
        return None
    trace, span = int(match.group(1), 16), int(match.group(2), 16)
    if not trace or not span:
        return None
    return trace, span, int(match.group(3), 16)


def format_traceparent(trace: int, span: int, flags: int) -> str:
    return f"00-{trace:032x}-{span:016x}-{flags:02x}"


def trace_id(traceparent: str | None) -> str | None:
    match = _TRACEPARENT.match(traceparent or "")
    return match.group(1) if match else None


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
