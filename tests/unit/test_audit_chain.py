"""The audit trail's chain, without I/O: each row's hash follows from the one before, and
an edited, deleted, inserted or reordered row is found at its seq."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from services.common.audit import (
    ANONYMOUS,
    GENESIS,
    ChainCheck,
    Verdict,
    canonical,
    chain_hash,
    next_row,
    verify_rows,
)

T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


def chain(n: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(n):
        rows.append(next_row(rows[-1] if rows else None, at=T0 + timedelta(seconds=i),
                             actor=f"cb.{i}" if i % 2 else None, action="case.accept",
                             dossier_code=f"000.01.01.H26-260302-{i:04d}", target=None,
                             address="10.0.0.7"))
    return rows


def test_the_first_row_follows_genesis_and_each_next_its_predecessor() -> None:
    rows = chain(3)
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert rows[0]["hash"] == hashlib.sha256(GENESIS.encode() + canonical(rows[0])).hexdigest()
    assert rows[2]["hash"] == chain_hash(rows[1]["hash"], rows[2])
    assert rows[0]["actor"] == ANONYMOUS and rows[1]["actor"] == "cb.1"
    assert verify_rows(rows) is None


def test_canonical_form_is_the_same_for_the_same_instant_in_any_zone() -> None:
    row = chain(1)[0]
    local = {**row, "at": row["at"].astimezone(timezone(timedelta(hours=7)))}
    assert canonical(local) == canonical(row)
    assert b'"at":"2026-03-02T01:30:00.000000+00:00"' in canonical(row)
    assert b'"hash"' not in canonical(row)  # the hash is over the row, not itself


def test_long_values_are_clipped_to_their_columns() -> None:
    row = next_row(None, at=T0, actor="x" * 500, action="a", dossier_code=None, target=None,
                   address=None)
    assert len(row["actor"]) == 200 and verify_rows([row]) is None


@pytest.mark.parametrize("field,value", [("actor", "someone else"), ("action", "case.reject"),
                                         ("dossier_code", "other"), ("address", "1.2.3.4"),
                                         ("at", T0 + timedelta(days=1)), ("hash", "0" * 64)])
def test_an_edited_row_breaks_at_its_seq(field: str, value: Any) -> None:
    rows = chain(6)
    rows[3] = {**rows[3], field: value}
    broken = verify_rows(rows)
    assert broken is not None and broken.seq == 4


def test_a_deleted_row_breaks_at_its_seq() -> None:
    rows = chain(5)
    del rows[2]
    broken = verify_rows(rows)
    assert broken is not None and broken.seq == 3 and "missing" in broken.reason


def test_a_row_rehashed_after_an_edit_breaks_its_successor() -> None:
    """Recomputing the edited row's own hash only moves the break to the next row."""
    rows = chain(5)
    forged = {**rows[1], "actor": "forger"}
    rows[1] = {**forged, "hash": chain_hash(rows[0]["hash"], forged)}
    broken = verify_rows(rows)
    assert broken is not None and broken.seq == 3


def test_reordered_rows_break() -> None:
    rows = chain(4)
    rows[1], rows[2] = rows[2], rows[1]
    broken = verify_rows(rows)
    assert broken is not None and broken.seq == 2


def test_checked_in_chunks_as_a_whole() -> None:
    rows = chain(7)
    check = ChainCheck()
    for start in range(0, 7, 3):
        assert check.feed(rows[start:start + 3]) is None
    assert check.count == 7
    assert Verdict(check.count, check.broken).describe() == "OK (7 rows)"


def test_an_empty_log_is_sound() -> None:
    assert verify_rows([]) is None
    rows = chain(2)
    rows[1] = {**rows[1], "actor": "x"}
    check = ChainCheck()
    check.feed(rows)
    verdict = Verdict(check.count, check.broken)
    assert not verdict.ok and verdict.count == 1
    assert verdict.describe().startswith("BROKEN at seq 2")
