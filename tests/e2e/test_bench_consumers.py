"""`python -m bench.consumers` cannot rot: with a few hundred records every way of consuming
reads them all, the JSON has the shape docs/architecture.md quotes, and the acknowledgement
finding it states still holds for the installed FastStream. No timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import consumers

pytestmark = pytest.mark.e2e
RECORDS = 300
WAYS = {"raw_aiokafka_getmany", "faststream_record_default_ack",
        "faststream_record_ack_policy_ack", "faststream_batch_default_ack",
        "faststream_batch_sqlite_inbox_ack", "onestop_batch_consumer_sqlite"}


def test_every_way_consumes_every_record_and_the_failed_record_is_committed_past(
        session_broker: str, tmp_path: Path) -> None:
    result = json.loads(json.dumps(consumers.run(RECORDS, session_broker, tmp_path)))
    assert result["records"] == RECORDS and result["record_bytes"] > 500
    assert set(result["ways"]) == WAYS
    for figures in result["ways"].values():
        assert figures["records"] == RECORDS
        assert figures["client_cpu_s"] >= 0 and figures["first_to_last_s"] >= 0
        assert 1 <= figures["first_delivery"] <= RECORDS
    assert set(result["ratios"]) == {f"onestop_over_{w}" for w in WAYS
                                     if w.startswith("faststream")}
    failures = {f["policy"]: f for f in result["on_failure"]}
    assert set(failures) == {"ACK_FIRST", "ACK", "NACK_ON_ERROR", "BatchConsumer"}
    # FastStream's default and ACK: past the failed record, nothing kept of it.
    for policy in ("ACK_FIRST", "ACK"):
        assert failures[policy]["committed_offset"] == consumers.ACK_RECORDS
        assert failures[policy]["deliveries_of_failed"] == 1
    # NACK_ON_ERROR: the failed record again and again, nothing behind it handled.
    nack = failures["NACK_ON_ERROR"]
    assert nack["committed_offset"] == consumers.FAILING
    assert nack["deliveries_of_failed"] > 1 and nack["handled_after_failed"] == 0
    # The runtime: past it too, but only once it is in the dead-letter topic.
    ours = failures["BatchConsumer"]
    assert ours["committed_offset"] == consumers.ACK_RECORDS
    assert ours["applied"] == consumers.ACK_RECORDS - 1
    assert ours["dead_lettered_offsets"] == [consumers.FAILING]
    assert ours["dead_letter_reason"] == ["handler-failed"]
    consumers.print_table(result)
