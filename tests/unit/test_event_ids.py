"""Event ids are UUIDv7 (RFC 9562): time-ordered, so the indexes they key grow at their
right edge (contracts.envelope.ordered_uuid; bench/index_locality.py measures why)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import MetaData

from contracts.envelope import Envelope, ordered_uuid
from contracts.events import DossierWithdrawn
from services.common.clock import FixedClock
from services.common.messaging.outbox import OutboxWriter
from services.common.persistence.db import runtime_tables


def test_an_ordered_uuid_is_a_version_7_uuid_whose_first_48_bits_are_the_unix_milliseconds(
) -> None:
    # RFC 9562, appendix A.6: 0x017F22E279B0 ms is 2022-02-22T19:22:22Z.
    made = ordered_uuid(0x017F22E279B0)
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert str(made).startswith("017f22e2-79b0-7")
    assert made.int >> 80 == 0x017F22E279B0


def test_later_ids_sort_later_and_ids_of_one_millisecond_differ() -> None:
    ids = [ordered_uuid(ms) for ms in range(1_700_000_000_000, 1_700_000_000_000 + 2_000, 7)]
    assert [str(i) for i in ids] == sorted(str(i) for i in ids)  # as text, as stored
    same = {ordered_uuid(1_700_000_000_000) for _ in range(10_000)}
    assert len(same) == 10_000


def test_ids_made_now_carry_the_time_they_were_made() -> None:
    before = int(datetime.now(UTC).timestamp() * 1000)
    made = ordered_uuid()
    after = int(datetime.now(UTC).timestamp() * 1000)
    assert before <= made.int >> 80 <= after


def test_envelopes_and_the_outbox_writer_give_ordered_ids() -> None:
    event = DossierWithdrawn(dossier_code="000.01.01.H26-261205-000001",
                             withdrawn_at=datetime(2026, 12, 5, 3, tzinfo=UTC),
                             reason="applicant asked")
    writer = OutboxWriter("processing", runtime_tables(MetaData()),
                          FixedClock(datetime(2026, 12, 5, 3, tzinfo=UTC)))
    assert writer.envelope(event, "000.01.01.H26").id.version == 7
    assert Envelope(type=DossierWithdrawn.event_type, source="onestop/processing",
                    subject=event.dossier_code, time=datetime(2026, 12, 5, 3, tzinfo=UTC),
                    agencycode="000.01.01.H26", data={}).id.version == 7
