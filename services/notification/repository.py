"""Every SQL statement of notification: the messages sent, by dossier."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.bulk import defer_insert
from services.notification import tables


class NotificationRepository:
    def add(self, s: AsyncSession, row: dict[str, Any]) -> None:
        defer_insert(s, tables.notifications, row)

    async def of_dossier(self, s: AsyncSession, code: str) -> list[dict[str, Any]]:
        t = tables.notifications
        return [dict(r) for r in (await s.execute(
            select(t).where(t.c.dossier_code == code).order_by(t.c.created_at))).mappings()]
