"""Personal columns at rest: sealed on the way in, opened on the way out, still opened by an
old key after rotation, re-sealed under the new key by the rotation command; production
refuses the development key. Outbox payloads of events bound for personal topics: sealed
(only those), opened for the relay, sealed by the revision when written in clear before,
re-sealed by the rotation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from pydantic import ValidationError

from contracts.topics import CONTACTS, INTAKE, INTAKE_PRIVATE, PROCESSING
from services.common.persistence.db import runtime_tables
from services.common.persistence.sealed_columns import (
    SealedJSON,
    SealedText,
    is_sealed,
    is_sealed_payload,
    open_outbox_rows,
    open_payload,
    reseal,
    seal_outbox_rows,
    seal_payload,
    sealed_columns,
)
from services.common.sealing import SealError, use_data_key
from services.common.settings import DEV_DATA_KEY, ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
ID_NUMBER, PHONE = "001190012345", "0912345678"
APPLICANT = {"kind": "individual", "full_name": "Nguyễn Văn An", "id_number": ID_NUMBER,
             "phone": PHONE}


@pytest.fixture
def keys() -> Iterator[tuple[str, str]]:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    use_data_key(old)
    yield old, new
    use_data_key(None)  # back to the setting for the tests that follow


def _table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table("people", metadata, sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("id_number", SealedText()), sa.Column("applicant", SealedJSON()),
                    sa.Column("note", sa.Text))


def _raw(conn: sa.Connection) -> list[tuple[str | None, str | None]]:
    return [(r[0], r[1]) for r in conn.execute(sa.text(
        "SELECT id_number, applicant FROM people ORDER BY id"))]


def test_values_are_sealed_in_the_row_and_open_as_written(keys: tuple[str, str]) -> None:
    metadata = sa.MetaData()
    people = _table(metadata)
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(people.insert(), [{"id": 1, "id_number": ID_NUMBER, "applicant": APPLICANT},
                                       {"id": 2, "id_number": None, "applicant": None}])
        raw = _raw(conn)
        assert raw[1] == (None, None)  # nothing to hide stays NULL
        for value in raw[0]:
            assert value is not None and is_sealed(value)
            assert ID_NUMBER not in value and PHONE not in value and "Nguy" not in value
        rows = conn.execute(sa.select(people).order_by(people.c.id)).mappings().all()
    assert rows[0]["id_number"] == ID_NUMBER and rows[0]["applicant"] == APPLICANT
    assert sealed_columns(metadata) == {"people": ["id_number", "applicant"]}


def test_two_seals_of_one_value_differ() -> None:
    # A fresh IV each time: equal values are not recognisable as equal in the table.
    kind = SealedText()
    dialect = sa.create_engine("sqlite://").dialect
    assert kind.process_bind_param(ID_NUMBER, dialect) != kind.process_bind_param(ID_NUMBER,
                                                                                  dialect)


def test_an_old_key_still_opens_and_rotation_reseals_under_the_new(
        keys: tuple[str, str]) -> None:
    old, new = keys
    metadata = sa.MetaData()
    people = _table(metadata)
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(people.insert(), [{"id": 1, "id_number": ID_NUMBER, "applicant": APPLICANT,
                                        "note": "kept"}])
        before = _raw(conn)
    use_data_key(f"{new},{old}")  # step 2 of the rotation: new first, old after
    with engine.connect() as conn:
        assert conn.execute(sa.select(people.c.id_number)).scalar_one() == ID_NUMBER
    with engine.begin() as conn:
        assert reseal(conn, metadata) == {"people": 1}
        after = _raw(conn)
        assert conn.execute(sa.text("SELECT note FROM people")).scalar_one() == "kept"
    assert all(a != b and is_sealed(a or "") for a, b in zip(after[0], before[0], strict=True))
    use_data_key(new)  # the old key dropped: the re-sealed rows still open
    with engine.connect() as conn:
        row = conn.execute(sa.select(people)).mappings().one()
    assert row["id_number"] == ID_NUMBER and row["applicant"] == APPLICANT
    use_data_key(old)  # and the old key alone no longer opens them
    with engine.connect() as conn, pytest.raises(SealError):
        conn.execute(sa.select(people.c.id_number)).scalar_one()


def test_production_refuses_the_development_data_key(monkeypatch: pytest.MonkeyPatch) -> None:
    other = Fernet.generate_key().decode()
    monkeypatch.setenv("ONESTOP_ENV", "production")
    monkeypatch.setenv("ONESTOP_PSEUDONYM_KEY", "a-real-secret")
    monkeypatch.setenv("ONESTOP_DLQ_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("ONESTOP_DATA_KEY", f"{other},{DEV_DATA_KEY}")
    with pytest.raises(ValidationError, match="ONESTOP_DATA_KEY"):
        ServiceSettings()
    monkeypatch.setenv("ONESTOP_DATA_KEY", other)
    try:
        settings = ServiceSettings()
    except ValidationError as exc:  # another secret's guard (tokens...), not this one
        assert "ONESTOP_DATA_KEY" not in str(exc)
    else:
        assert settings.data_key.get_secret_value() == other


def test_the_rotation_command_reseals_a_service_database(tmp_path: Path) -> None:
    """`python -m services.common.persistence.sealed_columns rotate notification`, as an
    operator runs it
    (the module run as __main__ must still find the tables' sealed columns)."""
    from services.common.persistence.migrations import upgrade
    from services.notification import tables

    url = f"sqlite+aiosqlite:///{tmp_path / 'notification.db'}"
    upgrade("notification", url, tables.metadata)
    sync = sa.create_engine(f"sqlite:///{tmp_path / 'notification.db'}")
    with sync.begin() as conn:
        conn.execute(tables.contacts.insert(), [{
            "applicant_ref": "p1_x", "phone": PHONE, "email": "an@example.vn",
            "updated_at": datetime.now(UTC)}])
    new = Fernet.generate_key().decode()
    env = {**os.environ, "NOTIFICATION_DATABASE_URL": url,
           "ONESTOP_DATA_KEY": f"{new},{DEV_DATA_KEY}"}
    done = subprocess.run([sys.executable, "-m", "services.common.persistence.sealed_columns",
                           "rotate",
                           "notification"], env=env, capture_output=True, text=True,
                          cwd=ROOT, check=True)
    assert "contacts: 1 rows re-sealed" in done.stdout
    use_data_key(new)
    try:
        with sync.connect() as conn:
            row = conn.execute(sa.select(tables.contacts)).mappings().one()
        assert row["phone"] == PHONE and row["email"] == "an@example.vn"
    finally:
        use_data_key(None)


def test_an_altered_or_foreign_column_value_is_refused() -> None:
    import base64

    from services.common.sealing import ColumnSealer, SealError

    key = Fernet.generate_key().decode()
    sealer = ColumnSealer([key])
    sealed = sealer.seal(b"001190012345")
    assert sealed.startswith(b"A1.") and b"001190012345" not in sealed
    assert sealer.unseal(sealed) == b"001190012345"
    head, body = sealed.rsplit(b".", 1)
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[14] ^= 1  # one bit of the ciphertext
    flipped = head + b"." + base64.urlsafe_b64encode(bytes(raw))
    for bad in (flipped, b"gAAAAAnot-ours", sealed.replace(b"A1.", b"A2."),
                ColumnSealer([Fernet.generate_key().decode()]).seal(b"x")):
        with pytest.raises(SealError):
            sealer.unseal(bad)


# --- outbox payloads of events bound for personal topics ----------------------------------

ENVELOPE = json.dumps({"id": "6c1f", "type": "applicant.recorded", "data": {
    "dossier_code": "000.01.01.H26-260302-0001", "applicant": APPLICANT}},
    ensure_ascii=False).encode()


@pytest.mark.parametrize("topic,sealed", [
    (INTAKE_PRIVATE.name, True), (CONTACTS.name, True),
    ("onestop.not-in-the-registry.v1", True),  # may carry anything: sealed
    (INTAKE.name, False), (PROCESSING.name, False)])
def test_outbox_payloads_are_sealed_only_for_topics_that_carry_personal_data(
        keys: tuple[str, str], topic: str, sealed: bool) -> None:
    stored = seal_payload(topic, ENVELOPE)
    assert is_sealed_payload(stored) is sealed
    assert (ID_NUMBER.encode() in stored) is not sealed
    assert open_payload(stored) == ENVELOPE  # what the relay publishes
    assert open_payload(ENVELOPE) == ENVELOPE  # a row written in clear before: as it is


def test_outbox_rows_sealed_by_the_revision_reseal_on_rotation_and_open_on_downgrade(
        keys: tuple[str, str]) -> None:
    old, new = keys
    metadata = sa.MetaData()
    outbox = runtime_tables(metadata).outbox
    engine = sa.create_engine("sqlite://")
    rows = [(INTAKE_PRIVATE.name, ENVELOPE), (CONTACTS.name, seal_payload(CONTACTS.name,
                                                                          ENVELOPE)),
            (INTAKE.name, b'{"pseudonymous": true}')]

    def payloads(conn: sa.Connection) -> list[bytes]:
        return [bytes(p) for p in conn.execute(
            sa.select(outbox.c.payload).order_by(outbox.c.seq)).scalars()]

    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(outbox.insert(), [
            {"event_id": f"e{n}", "topic": topic, "key": "k", "event_type": "t",
             "payload": payload, "created_at": datetime.now(UTC)}
            for n, (topic, payload) in enumerate(rows)])
        assert seal_outbox_rows(conn) == 1  # the one in clear; the sealed one left as it is
        private, contacts, broad = payloads(conn)
        assert is_sealed_payload(private) and contacts == rows[1][1] and broad == rows[2][1]
        assert ID_NUMBER.encode() not in private + contacts
    use_data_key(f"{new},{old}")
    with engine.begin() as conn:
        assert reseal(conn, metadata) == {"outbox": 2}
    use_data_key(new)  # the old key dropped: the re-sealed payloads still open
    with engine.connect() as conn:
        assert [open_payload(p) for p in payloads(conn)[:2]] == [ENVELOPE, ENVELOPE]
    use_data_key(old)
    with engine.connect() as conn, pytest.raises(SealError):
        open_payload(payloads(conn)[0])
    use_data_key(new)
    with engine.begin() as conn:
        assert open_outbox_rows(conn) == 2  # the downgrade: the code before publishes as is
        assert payloads(conn) == [ENVELOPE, ENVELOPE, rows[2][1]]
