"""Another person's inbox (inbox:any, the ops role) is reached only for the items about the
caller's agency tree, and every such read (or mark) is written in the audit trail. A real
notification runtime and database; the items are queued as the notifier queues them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from services.notification.app import build
from services.notification.message import Message
from services.notification.repository import NotificationRepository
from services.notification.settings import NotificationSettings
from services.product.roles import Role
from tests.auth import bearer
from tests.conftest import postgres_database
from tests.integration.support import settings_for

pytestmark = pytest.mark.integration
HANOI, BA_DINH, SAIGON = "000.00.01.H26", "000.01.01.H26", "000.79.01.H29"
OFFICER = "can-bo-hop-thu"


def item(agency: str, n: int) -> Message:
    now = datetime.now(UTC)
    return Message(id=str(uuid.uuid4()), dedup_key=uuid.uuid4().hex, agency_code=agency,
                   dossier_code=f"{agency}-261201-{n:04d}", about_event="case.near_due",
                   about_event_id=str(uuid.uuid4()), audience="officer", channel="inbox",
                   recipient=OFFICER, address=OFFICER, subject=f"Sắp đến hạn {n}",
                   body="…", status="sent", attempts=1, not_before=now, last_error=None,
                   created_at=now, sent_at=now)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_ops_reads_another_inbox_only_within_its_tree_and_is_audited(
        database: str, tmp_path: Path) -> None:
    async def run(url: str) -> None:
        # Never started: no broker is reached, only the database and the HTTP routes.
        runtime = build(settings_for(NotificationSettings, "127.0.0.1:9", url, tmp_path))
        await runtime.migrate()
        ba_dinh, saigon = item(BA_DINH, 1), item(SAIGON, 2)
        async with runtime.transaction() as s:
            await NotificationRepository().enqueue(s, [ba_dinh, saigon])
        hanoi_ops = bearer(Role.ops, user="van-hanh-ha-noi", agency=HANOI)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime.app),
                                         base_url="http://notification") as c:
                async def listed(headers: dict[str, str]) -> set[str]:
                    r = await c.get("/api/v1/inbox", params={"recipient": OFFICER},
                                    headers=headers)
                    assert r.status_code == 200, r.text
                    return {i["id"] for i in r.json()["items"]}

                assert await listed(hanoi_ops) == {ba_dinh.id}
                assert await listed(bearer(Role.ops, user="van-hanh")) == {
                    ba_dinh.id, saigon.id}  # national
                # Marking read: another tree's item is not found; its own tree's is.
                r = await c.post(f"/api/v1/inbox/{saigon.id}/read", headers=hanoi_ops)
                assert r.status_code == 404
                r = await c.post(f"/api/v1/inbox/{ba_dinh.id}/read", headers=hanoi_ops)
                assert r.status_code == 200 and r.json()["read_at"]
                # The officer's own inbox: theirs, whole, and not audited.
                mine = bearer(Role.processing_officer, user=OFFICER, agency=BA_DINH)
                r = await c.get("/api/v1/inbox", headers=mine)
                assert {i["id"] for i in r.json()["items"]} == {ba_dinh.id, saigon.id}
            t = runtime.tables.audit
            async with runtime.sessions() as s:
                rows = (await s.execute(select(t).order_by(t.c.seq))).mappings().all()
        finally:
            await runtime.engine.dispose()
        assert [(r["actor"], r["action"], r["target"]) for r in rows] == [
            ("van-hanh-ha-noi", "inbox.read", OFFICER),
            ("van-hanh", "inbox.read", OFFICER),
            ("van-hanh-ha-noi", "inbox.mark_read", OFFICER)]

    if database == "sqlite":
        await run(f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
    else:
        async with postgres_database() as url:
            await run(url)
