"""Reporting adds each batch onto the stored folds, in a few statements whatever the batch
holds: a batch reads no event back and writes each table in one statement (the facts locked
in one), also when an event arrives after later ones of its dossier; only a step (or
supplement) event sorting before one of its sequence folded already folds its dossier again
from its stored events. Either way the stored facts, fold states and step facts are one
fold of every event, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from bench.rebuild import lifecycle
from contracts import topics
from contracts.envelope import Envelope
from contracts.events import ComponentDigitized, Event, StepAssigned
from contracts.topics import Topic
from services.common.messaging.consumer import Context
from services.common.runtime import Runtime
from services.law.workdays import TZ
from services.reporting import tables
from services.reporting.app import build
from services.reporting.fact_rows import memo_json
from services.reporting.facts import DossierFold, Recorded
from services.reporting.repository import ReportingRepository
from services.reporting.settings import ReportingSettings
from tests.integration.support import settings_for

pytestmark = pytest.mark.integration
TABLES = ("dossier_facts", "step_facts", "daily_figures", "events")


@contextlib.contextmanager
def statements(runtime: Runtime) -> Iterator[list[str]]:
    """The statements sent touching reporting's tables (an executemany counts once)."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if any(re.search(rf"\b{name}\b", statement) for name in TABLES):
            seen.append(" ".join(statement.split()))  # whole: a table may come late in it

    engine = runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def envelope(event: Event, agency: str, at: datetime) -> Envelope:
    return Envelope(id=uuid.uuid4(), type=event.event_type, source="onestop/test",
                    subject=event.dossier_code, time=at, agencycode=agency,
                    data=event.model_dump(mode="json"))


async def apply(runtime: Runtime, records: list[tuple[Topic, Envelope]]) -> None:
    projection = runtime.app.state.projection
    async with runtime.transaction() as s:
        await projection.apply(s, [(Context(s, env, topic.name), Recorded.parsed(env).event)
                                   for topic, env in records])


async def test_batches_add_onto_the_stored_folds(kafka_bootstrap: str, database_url: str,
                                                 tmp_path: Path, unique: str) -> None:
    runtime = build(settings_for(ReportingSettings, kafka_bootstrap, database_url, tmp_path))
    await runtime.migrate()
    projection = runtime.app.state.projection
    try:
        start = datetime(2026, 6, 1, 8, tzinfo=TZ)
        lives = [sorted(lifecycle(i, start, tag=unique), key=lambda r: Recorded.parsed(r[1]).key)
                 for i in range(30)]
        first = [r for life in lives for r in life[:len(life) // 2]]
        rest = [r for life in lives for r in life[len(life) // 2:]]
        await apply(runtime, first)
        assert projection.folds == {"advanced": 30, "refolded": 0}

        with statements(runtime) as sent:
            await apply(runtime, rest)
        # Every event sorts after its dossier's folded ones: nothing is read back.
        assert projection.folds == {"advanced": 60, "refolded": 0}
        assert not [s for s in sent if s.startswith("SELECT") and " events" in s], sent
        verbs = [s.split()[0] for s in sent]
        # Lock the facts (one statement), insert the events (PostgreSQL: a COPY), upsert
        # the facts, the steps and the daily figures: nothing per dossier.
        assert len(sent) <= 5 and sum(map(verbs.count, ("SELECT", "INSERT", "COPY"))) == \
            len(sent), sent

        # Arriving after later events of its dossier: a component digitized (no sequence)
        # is added as the rest; a step assigned before the dossier's steps folds it again.
        code, agency = lives[0][0][1].subject, lives[0][0][1].agencycode
        late = [envelope(ComponentDigitized(
                    dossier_code=code, component_code="GKS", form="paper",
                    digitized_at=start - timedelta(days=1)), agency, start),
                envelope(StepAssigned(dossier_code=code, step_no=9, step_code="KT",
                                      department="Phòng Kế toán", assigned_at=start), agency,
                         start)]
        with statements(runtime) as sent:
            await apply(runtime, [(topics.DIGITIZATION, late[0])])
        assert projection.folds == {"advanced": 61, "refolded": 0}
        assert not [s for s in sent if s.startswith("SELECT") and " events" in s], sent
        with statements(runtime) as sent:
            await apply(runtime, [(topics.PROCESSING, late[1])])
        assert projection.folds == {"advanced": 61, "refolded": 1}
        assert [s for s in sent if s.startswith("SELECT") and " events" in s]

        everything = {life[0][1].subject: [Recorded.parsed(e) for _, e in life]
                      for life in lives}
        everything[code] += [Recorded.parsed(env) for env in late]
        expected = {c: DossierFold.of(c, evs, projection.calendars)
                    for c, evs in everything.items()}
        repo = ReportingRepository()
        f = tables.dossier_facts
        async with runtime.sessions() as s:
            assert await repo.facts_of(s, list(expected)) == {
                c: x.fact for c, x in expected.items()}
            memos = dict((await s.execute(select(f.c.dossier_code, f.c.fold_state).where(
                f.c.dossier_code.in_(list(expected))))).all())
            steps = await repo.steps_of(s, list(expected))
        assert memos == {c: memo_json(x.memo()) for c, x in expected.items()}
        assert steps == {c: x.steps() for c, x in expected.items() if x.steps()}
    finally:
        await runtime.engine.dispose()
