"""A hostile province on the real broker: every kind of bad record is answered on the
feedback topic (unreadable ones dead-lettered too), the intake service keeps running, and
valid events published behind the bad ones arrive within seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.hostile import kinds, run
from services.intake.app import build
from services.intake.settings import IntakeSettings
from tests.integration.support import settings_for, started

pytestmark = pytest.mark.integration


async def test_every_hostile_record_is_answered_and_valid_ones_flow_behind_them(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = settings_for(IntakeSettings, kafka_bootstrap,
                            f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}", tmp_path)
    # Parked events (a dossier never received) expire in seconds here, not a day.
    settings.parked_expiry_hours = 3 / 3600
    settings.parked_check_seconds = 0.5
    runtime = await started(build(settings))
    try:
        outcome = await run(kafka_bootstrap, per_kind=3, valid=20, wait_seconds=90)
        assert runtime.consumer is not None
        assert all(not task.done() for task in runtime._tasks), "a background task ended"
    finally:
        await runtime.stop()
    kinds_sent = set(kinds("x", "v", {"data": {}}))
    assert set(outcome.by_kind) == kinds_sent
    assert outcome.neither == []
    assert outcome.missing_dead_letter == []
    # the ingest topic carries personal data: its dead letters are sealed, never in clear
    assert outcome.dead_letters_unsealed == 0
    assert outcome.dead_letters_with_id_number == 0
    unanswered = {k: v for k, v in outcome.by_kind.items() if v["answered"] != v["sent"]}
    assert unanswered == {}
    codes = {k: v["codes"] for k, v in outcome.by_kind.items()}
    assert codes == {
        "not-json": ["unparseable"], "not-utf8": ["unparseable"], "empty": ["empty"],
        "null-value": ["empty"], "json-array": ["invalid-envelope"],
        "nested-10000": ["unparseable"], "nested-40": ["too-deep"],
        "too-large-record": ["too-large"], "time-year-one": ["invalid-envelope"],
        "no-id": ["invalid-envelope"], "numeric-occurred-at": ["invalid-event"],
        "unknown-type": ["unknown-type"], "invalid-data": ["invalid-event"],
        "oversized-address": ["invalid-event"], "id-reused": ["id-reused"],
        "before-catalogue": ["no_catalogue"], "future-receipt": ["received_at_in_future"],
        "unknown-dossier": ["unknown_dossier"], "other-province": ["dossier_not_allowed"],
        "other-province-own-agency-name": ["dossier_not_allowed"],
        "duplicate-components": ["duplicate_component"],
        "personal-document-ref": ["personal_document_ref"],
        "source-mismatch": ["source_mismatch"],
        "unknown-agency-and-procedure": ["unknown_procedure"],
        "unsigned": ["signature_missing"], "wrongly-signed": ["signature_invalid"],
        "signed-with-other-systems-key": ["signature_invalid"],
        "stale-signature": ["signature_stale"],
        "unknown-system": ["signature_unknown_system"],
        "signed-as-other-system": ["signature_system_mismatch"],
    }
    # Every signature refusal is counted, by reason and (registered) system.
    refused = {(reason, system): runtime.metrics.registry.get_sample_value(
        "onestop_ingest_signature_refused_total", {"reason": reason, "system": system})
        for reason, system in (("signature_missing", "unregistered"),
                               ("signature_invalid", "hanoi-mcdt"),
                               ("signature_stale", "hanoi-mcdt"),
                               ("signature_unknown_system", "unregistered"))}
    assert list(refused.values()) == [3, 6, 3, 3]
    assert outcome.valid_missing == 0
    # "within seconds": generous on a shared 2-core machine, far below per-record retries
    assert max(outcome.valid_seconds) < 30
