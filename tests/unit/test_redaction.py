"""Logs hold no personal numbers or e-mails in clear, and keep what operators need."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
import structlog

from services.common.observability.logs import configure_logging, get_logger
from services.common.observability.redaction import MaskingFormatter, mask

CCCD = "001190012345"
CMND = "123456789"
BHXH = "7912345678"
PHONE = "0912345678"
EMAIL = "nguyen.thi.hoa@example.com.vn"


@pytest.mark.parametrize(("text", "secret", "masked"), [
    (f"id_number={CCCD}", CCCD, "id_number=*********345"),
    (f"cmnd {CMND} ok", CMND, "cmnd ******789 ok"),
    (f"ma so bhxh: {BHXH}.", BHXH, "ma so bhxh: *******678."),
    (f'"phone": "{PHONE}"', PHONE, '"phone": "*******678"'),
    ("call 0912 345 678 now", "345", "call **** *** 678 now"),
    ("call 0912.345.678", "0912.345", "call ****.***.678"),
    ("call 091-234-5678", "091-234", "call ***-***-*678"),
    ("call +84 912 345 678", "912 345", "call +** *** *** 678"),
    ("call +84912345678", "84912345", "call +********678"),
    ("call 84912345678", "84912345", "call ********678"),
    ("landline 024 3825 1234", "3825", "landline *** **** *234"),
    ("landline (024) 3825 1234", "3825", "landline (***) **** *234"),
    (f"mail {EMAIL}, thanks", "nguyen", "mail ***@example.com.vn, thanks"),
    (f"in a tuple ('{CCCD}', '{PHONE}')", CCCD, "in a tuple ('*********345', '*******678')"),
])
def test_each_kind_is_masked(text: str, secret: str, masked: str) -> None:
    assert mask(text) == masked
    assert secret not in mask(text)


@pytest.mark.parametrize("text", [
    "2026-11-29T16:57:32.123456+00:00",
    "at 2026-03-02 08:00:00.000000 and 2026-03-02T08:00:00Z",
    "event 123e4567-e89b-12d3-a456-426614174000",
    "event 00000000-0000-4000-8000-091234567800",  # a UUID whose last group looks like a phone
    "dossier 000.01.01.H26-260302-0001",
    "dossier 000.01.01.H26-090302-0001",  # received 2009-03-02: "0903020001" is phone-shaped
    "trace 4bf92f3577b34da6a3ce929d0e0e4736",
    "trace 12345678901234567890123456789012",
    "traceparent 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "sha256 " + "0123456789" * 6 + "abcd",
    '{"topic": "onestop.ingest.v1", "partition": 3, "offset": 123456789012}',
    "offset=1234567890 partition=5",
    '{"duration_ms": 1234567890, "batch_seconds": 0.0912345678}',
    "took 0.912345678s, ratio 1.0912345678",
    "listening on 127.0.0.1:9092 and http://127.0.0.1:8001/health",
    "pseudonym p1_abcdefgh234567ab",
    "epoch ms 1764435452123",
    "postgresql+asyncpg://user@localhost/intake",
])
def test_what_logs_legitimately_hold_is_left_alone(text: str) -> None:
    assert mask(text) == text


def test_masked_json_stays_json() -> None:
    line = json.dumps({"msg": "x", "id": CCCD, "mail": EMAIL, "offset": 12}, ensure_ascii=False)
    assert json.loads(mask(line)) == {"msg": "x", "id": "*********345",
                                      "mail": "***@example.com.vn", "offset": 12}


def _integrity_error() -> sa.exc.IntegrityError:
    """A real one: two refusals with one submission_id, as the hostile run produced."""
    engine = sa.create_engine("sqlite://")
    meta = sa.MetaData()
    t = sa.Table("refusals", meta, sa.Column("submission_id", sa.String, unique=True),
                 sa.Column("full_name", sa.String), sa.Column("id_number", sa.String),
                 sa.Column("phone", sa.String), sa.Column("email", sa.String))
    meta.create_all(engine)
    row = {"submission_id": "counter-1-0001", "full_name": "Nguyễn Thị Hoa",
           "id_number": CCCD, "phone": "0912 345 678", "email": EMAIL}
    with engine.begin() as c:
        c.execute(t.insert(), row)
    try:
        with engine.begin() as c:
            c.execute(t.insert(), row)
    except sa.exc.IntegrityError as exc:
        return exc
    raise AssertionError("the second insert should have failed")


def _assert_clean(text: str) -> None:
    for secret in (CCCD, "0912 345 678", EMAIL, "Nguyễn Thị Hoa"):
        assert secret not in text


def test_a_traceback_with_sqlalchemy_parameters_is_masked() -> None:
    exc = _integrity_error()
    assert CCCD in str(exc)  # what leaked before: SQLAlchemy prints the parameters
    record = logging.LogRecord("intake", logging.ERROR, __file__, 1,
                               "refusal failed for %s", (CCCD,),
                               (type(exc), exc, exc.__traceback__))
    out = MaskingFormatter("%(message)s").format(record)
    _assert_clean(out)
    assert "refusal failed for *********345" in out
    assert "Traceback" in out and "UNIQUE constraint failed: refusals.submission_id" in out
    assert "[parameters: redacted]" in out


@pytest.fixture
def logging_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    factory, hook = logging.getLogRecordFactory(), sys.excepthook
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.setLogRecordFactory(factory)
    sys.excepthook = hook
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def test_configured_logging_masks_structlog_and_stdlib(
        capsys: pytest.CaptureFixture[str], logging_restored: None) -> None:
    configure_logging("intake", "INFO")
    exc = _integrity_error()
    log = get_logger("intake.refusals")
    log.warning("refusal not recorded", id_number=CCCD, phone=PHONE, email=EMAIL,
                offset=123456789012, error=repr(exc))
    try:
        raise exc
    except sa.exc.IntegrityError:
        log.exception("refusal failed")
        logging.getLogger("intake.stdlib").exception("refusal failed for %s", CCCD)
    err = capsys.readouterr().err
    _assert_clean(err)
    assert PHONE not in err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    first = lines[0]
    assert first["msg"] == "refusal not recorded" and first["service"] == "intake"
    assert first["id_number"] == "*********345" and first["email"] == "***@example.com.vn"
    assert first["offset"] == 123456789012  # numbers with a name stay readable
    assert "UNIQUE constraint failed" in lines[1]["exception"]
    assert "refusal failed for *********345" in err
    assert "Traceback" in err.split("refusal failed for", 1)[1]


def test_handlers_configured_by_others_get_masked_records(
        logging_restored: None) -> None:
    # uvicorn installs its own handlers and formatter; the record itself must be masked.
    configure_logging("intake", "INFO")
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(logging.Formatter("%(message)s").format(record))

    other = logging.getLogger("uvicorn.error.test")
    other.propagate = False
    other.addHandler(Collect())
    exc = _integrity_error()
    try:
        raise exc
    except sa.exc.IntegrityError:
        other.exception("Exception in ASGI application from %s", EMAIL)
    assert len(seen) == 1
    _assert_clean(seen[0])
    assert "Exception in ASGI application from ***@example.com.vn" in seen[0]
    assert "Traceback" in seen[0]
