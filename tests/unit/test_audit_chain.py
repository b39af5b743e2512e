"""The audit trail's chain, without I/O: each row's hash follows from the one before, keyed
with an HMAC under ONESTOP_AUDIT_KEY; an edited, deleted, inserted or reordered row is found
at its seq, and so is a row rewritten with every later hash recomputed as plain SHA-256 (no
key). Anchors (signed checkpoints of the head, kept outside the database) find the newest
rows deleted. A chain of rows written before keys (plain SHA-256) still verifies."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.common.persistence.audit import (
    ANONYMOUS,
    GENESIS,
    Anchor,
    AnchorFile,
    ChainCheck,
    ChainKeys,
    Verdict,
    canonical,
    chain_hash,
    next_row,
    verify_rows,
)
from services.common.sealing import key_id
from services.common.settings import DEV_AUDIT_KEY, ServiceSettings

T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
KEY, NEW_KEY = "audit-key-one-for-the-unit-tests-0001", "audit-key-two-for-the-unit-tests-0002"
KEYS = ChainKeys([KEY])


def chain(n: int, keys: ChainKeys | None = KEYS, rows: list[dict[str, Any]] | None = None,
          action: str = "case.accept") -> list[dict[str, Any]]:
    """`n` more rows after `rows`, keyed with `keys` (None: the unkeyed form of before)."""
    rows = list(rows or [])
    for _ in range(n):
        i = len(rows)
        rows.append(next_row(rows[-1] if rows else None, at=T0 + timedelta(seconds=i),
                             actor=f"cb.{i}" if i % 2 else None, action=action,
                             dossier_code=f"000.01.01.H26-260302-{i:04d}", target=None,
                             address="10.0.0.7", keys=keys))
    return rows


def rechained(rows: list[dict[str, Any]], start: int, *, drop_key: bool,
              **changes: Any) -> list[dict[str, Any]]:
    """What someone who can write the table but lacks the key does: change the row at seq
    `start`, then recompute its hash and every later one with plain SHA-256."""
    forged = [dict(r) for r in rows]
    forged[start - 1].update(changes)
    for i in range(start - 1, len(forged)):
        if drop_key:
            forged[i]["key_id"] = None
        previous = forged[i - 1]["hash"] if i else GENESIS
        forged[i]["hash"] = hashlib.sha256(previous.encode() + canonical(forged[i])).hexdigest()
    return forged


def anchor(rows: list[dict[str, Any]], seq: int, keys: ChainKeys = KEYS,
           service: str = "intake") -> Anchor:
    return Anchor.made(keys, service, seq, rows[seq - 1]["hash"], T0 + timedelta(hours=seq))


# --- the chain ----------------------------------------------------------------------------


def test_each_row_is_an_hmac_under_the_first_key_of_the_one_before() -> None:
    rows = chain(3)
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert {r["key_id"] for r in rows} == {key_id(KEY)}
    first = hmac.new(KEY.encode(), b"onestop-audit-row-v1\n" + GENESIS.encode()
                     + canonical(rows[0]), hashlib.sha256).hexdigest()
    assert rows[0]["hash"] == first
    assert rows[0]["hash"] != hashlib.sha256(GENESIS.encode() + canonical(rows[0])).hexdigest()
    assert rows[2]["hash"] == chain_hash(rows[1]["hash"], rows[2], KEYS)
    assert rows[0]["actor"] == ANONYMOUS and rows[1]["actor"] == "cb.1"
    assert verify_rows(rows, KEYS) is None


def test_a_chain_written_before_keys_still_verifies() -> None:
    old = chain(3, keys=None)
    assert {r["key_id"] for r in old} == {None}
    assert old[0]["hash"] == hashlib.sha256(GENESIS.encode() + canonical(old[0])).hexdigest()
    assert verify_rows(old, KEYS) is None
    # ...and the keyed rows appended after it.
    assert verify_rows(chain(3, rows=old), KEYS) is None


def test_canonical_form_is_the_same_for_the_same_instant_in_any_zone() -> None:
    row = chain(1)[0]
    local = {**row, "at": row["at"].astimezone(timezone(timedelta(hours=7)))}
    assert canonical(local) == canonical(row)
    assert b'"at":"2026-03-02T01:30:00.000000+00:00"' in canonical(row)
    assert b'"hash"' not in canonical(row)  # the hash is over the row, not itself


def test_long_values_are_clipped_to_their_columns() -> None:
    row = next_row(None, at=T0, actor="x" * 500, action="a", dossier_code=None, target=None,
                   address=None, keys=KEYS)
    assert len(row["actor"]) == 200 and verify_rows([row], KEYS) is None


@pytest.mark.parametrize("keys", [KEYS, None], ids=["keyed", "before-keys"])
@pytest.mark.parametrize("field,value", [("actor", "someone else"), ("action", "case.reject"),
                                         ("dossier_code", "other"), ("address", "1.2.3.4"),
                                         ("at", T0 + timedelta(days=1)), ("hash", "0" * 64)])
def test_an_edited_row_breaks_at_its_seq(field: str, value: Any, keys: ChainKeys | None
                                         ) -> None:
    rows = chain(6, keys=keys)
    rows[3] = {**rows[3], field: value}
    broken = verify_rows(rows, KEYS)
    assert broken is not None and broken.seq == 4


def test_a_deleted_row_breaks_at_its_seq() -> None:
    rows = chain(5)
    del rows[2]
    broken = verify_rows(rows, KEYS)
    assert broken is not None and broken.seq == 3 and "missing" in broken.reason


def test_a_row_rehashed_after_an_edit_breaks_its_successor() -> None:
    """Before keys: recomputing the edited row's own hash only moves the break to the next."""
    rows = chain(5, keys=None)
    forged = {**rows[1], "actor": "forger"}
    rows[1] = {**forged, "hash": chain_hash(rows[0]["hash"], forged)}
    broken = verify_rows(rows, KEYS)
    assert broken is not None and broken.seq == 3


@pytest.mark.parametrize("drop_key", [False, True], ids=["key-id-left", "key-id-dropped"])
def test_a_row_rewritten_and_rechained_with_plain_sha256_breaks_at_that_row(
        drop_key: bool) -> None:
    """Without the key, re-chaining is no longer possible: the row names a key its hash is
    not an HMAC under, or it claims the unkeyed form after keyed rows."""
    rows = chain(6)
    forged = rechained(rows, 3, drop_key=drop_key, actor="Nguyễn Giả Mạo")
    broken = verify_rows(forged, KEYS)
    assert broken is not None and broken.seq == 3, broken
    assert ("unkeyed hash after keyed rows" if drop_key else "does not match") in broken.reason


def test_keyed_rows_turned_back_into_the_old_form_break_where_the_keyed_ones_began() -> None:
    rows = chain(3, rows=chain(2, keys=None))  # 1-2 before keys, 3-5 keyed
    broken = verify_rows(rechained(rows, 4, drop_key=True), KEYS)
    assert broken is not None and broken.seq == 4


def test_rotation_keeps_old_rows_verifying_while_their_key_is_listed() -> None:
    rows = chain(2, keys=ChainKeys([NEW_KEY]), rows=chain(3))  # 1-3 old key, 4-5 new
    assert [r["key_id"] for r in rows] == [key_id(KEY)] * 3 + [key_id(NEW_KEY)] * 2
    assert verify_rows(rows, ChainKeys([NEW_KEY, KEY])) is None
    broken = verify_rows(rows, ChainKeys([NEW_KEY]))  # the old key dropped too early
    assert broken is not None and broken.seq == 1
    assert f"key {key_id(KEY)}, which ONESTOP_AUDIT_KEY does not hold" in broken.reason


def test_reordered_rows_break() -> None:
    rows = chain(4)
    rows[1], rows[2] = rows[2], rows[1]
    broken = verify_rows(rows, KEYS)
    assert broken is not None and broken.seq == 2


def test_checked_in_chunks_as_a_whole() -> None:
    rows = chain(7)
    check = ChainCheck(KEYS)
    for start in range(0, 7, 3):
        assert check.feed(rows[start:start + 3]) is None
    assert check.finish() is None and check.count == 7
    assert Verdict(check.count, check.broken).describe().startswith("OK (7 rows; no anchor")


def test_an_empty_log_is_sound() -> None:
    assert verify_rows([], KEYS) is None
    rows = chain(2)
    rows[1] = {**rows[1], "actor": "x"}
    check = ChainCheck(KEYS)
    check.feed(rows)
    verdict = Verdict(check.count, check.broken)
    assert not verdict.ok and verdict.count == 1
    assert verdict.describe().startswith("BROKEN at seq 2")


# --- anchors ------------------------------------------------------------------------------


def test_the_newest_rows_deleted_are_found_by_the_anchor() -> None:
    rows = chain(8)
    anchors = [anchor(rows, 4), anchor(rows, 8)]
    assert verify_rows(rows, KEYS, anchors) is None
    assert verify_rows(rows[:6], KEYS) is None  # what the chain alone cannot see
    broken = verify_rows(rows[:6], KEYS, anchors)
    assert broken is not None and broken.seq == 7
    assert "rows 7..8 missing" in broken.reason and "the log ends at 6" in broken.reason
    broken = verify_rows([], KEYS, anchors)  # everything deleted
    assert broken is not None and broken.seq == 1


def test_rows_deleted_and_written_again_differ_from_the_anchor() -> None:
    rows = chain(8)
    anchors = [anchor(rows, 4), anchor(rows, 8)]
    # Rows 6-8 deleted; the service, which holds the key, appends new rows 6-9 after.
    again = chain(4, rows=rows[:5], action="case.reject")
    broken = verify_rows(again, KEYS, anchors)
    assert broken is not None and broken.seq == 8
    assert "a row of seq 5..8 was rewritten, deleted or added" in broken.reason


def test_a_whole_chain_rewritten_in_the_old_form_differs_from_the_anchor() -> None:
    rows = chain(6)
    forged = rechained(rows, 1, drop_key=True, actor="x")
    assert verify_rows(forged, KEYS) is None  # nothing keyed left to contradict it
    broken = verify_rows(forged, KEYS, [anchor(rows, 5)])
    assert broken is not None and broken.seq == 5 and "seq 1..5" in broken.reason


def test_the_anchor_file_is_appended_once_per_head_and_read_back(tmp_path: Path) -> None:
    rows = chain(3)
    anchors = AnchorFile.of(tmp_path, "intake", KEYS)
    assert anchors.read() == ([], None)  # no file yet
    first = anchors.append_unless_same(2, rows[1]["hash"], T0)
    assert first is not None and anchors.append_unless_same(2, rows[1]["hash"], T0) is None
    second = anchors.append_unless_same(3, rows[2]["hash"], T0 + timedelta(minutes=1))
    assert anchors.path == tmp_path / "audit" / "intake.anchors"
    assert anchors.path.read_bytes().count(b"\n") == 2
    read, bad = anchors.read()
    assert bad is None and read == [first, second]
    assert all(a.sound(KEYS, "intake") for a in read)
    verdict = Verdict(3, verify_rows(rows, KEYS, read), read[-1])
    assert verdict.describe() == "OK (3 rows; anchored up to seq 3 at 2026-03-02 01:31:00 UTC)"


@pytest.mark.parametrize("edit", [
    lambda line: line.replace(b'"seq":3', b'"seq":2'),  # an anchor moved back
    lambda line: line.replace(b'"service":"intake"', b'"service":"processing"'),
    lambda line: b"not json at all\n"])
def test_an_altered_anchor_line_is_a_break(tmp_path: Path, edit: Any) -> None:
    rows = chain(3)
    anchors = AnchorFile.of(tmp_path, "intake", KEYS)
    anchors.append_unless_same(2, rows[1]["hash"], T0)
    anchors.append_unless_same(3, rows[2]["hash"], T0)
    lines = anchors.path.read_bytes().splitlines(keepends=True)
    anchors.path.write_bytes(lines[0] + edit(lines[1]))
    read, bad = anchors.read()
    assert bad is not None and "line 2" in bad.reason and len(read) == 1
    # A write cut short leaves a broken line, but the next anchor is a line of its own.
    anchors.path.write_bytes(lines[0] + lines[1][:20])
    assert anchors.append_unless_same(3, rows[2]["hash"], T0) is not None
    assert Anchor.parse(anchors.path.read_bytes().splitlines()[-1]).seq == 3
    # An anchor made under a key no longer listed is not trusted either.
    other = AnchorFile(anchors.path, "intake", ChainKeys([NEW_KEY]))
    assert other.read()[1] is not None


# --- settings -----------------------------------------------------------------------------


def test_production_refuses_the_development_or_a_short_audit_key(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert ChainKeys.from_secret(ServiceSettings().audit_key.get_secret_value()).current == \
        key_id(DEV_AUDIT_KEY)
    secrets = {"env": "production", "pseudonym_key": "real", "dlq_key": "real",
               "data_key": "real", "auth_jwt_secret": "real", "auth_api_keys": "",
               "service_api_key": "real"}
    for refused in (DEV_AUDIT_KEY, f"{NEW_KEY},{DEV_AUDIT_KEY}", "short-key"):
        with pytest.raises(ValidationError, match="ONESTOP_AUDIT_KEY"):
            ServiceSettings(**secrets, audit_key=refused)
    monkeypatch.setenv("ONESTOP_AUDIT_KEY", f"{NEW_KEY},{KEY}")
    keys = ChainKeys.from_secret(ServiceSettings(**secrets).audit_key.get_secret_value())
    assert keys.current == key_id(NEW_KEY)
    assert verify_rows(chain(2), keys) is None  # the old key still verifies
