"""Idempotency-Key for HTTP actions, written once: a retry of the same request gets the first
answer back and changes nothing, because the answer is kept in the same transaction as the
change. The same key on another request is refused (422)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.common import Problem
from services.common.http.edge import ApiError
from services.common.persistence.db import UtcDateTime

KEY_MAX = 128


def idempotency_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys", metadata,
        Column("key", String(KEY_MAX), primary_key=True),
        Column("request", String(300), nullable=False),  # method and path the key was used on
        Column("status", Integer, nullable=False),
        Column("body", JSON, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
    )


class AnswerStore(Protocol):
    async def kept_answer(self, s: AsyncSession, key: str) -> dict[str, Any] | None: ...

    async def keep_answer(self, s: AsyncSession, row: dict[str, Any]) -> None: ...


class KeptAnswers:
    """The store's SQL, for a repository with an `answers_table` (idempotency_table)."""

    answers_table: Table

    async def kept_answer(self, s: AsyncSession, key: str) -> dict[str, Any] | None:
        t = self.answers_table
        row = (await s.execute(select(t).where(t.c.key == key))).mappings().first()
        return dict(row) if row else None

    async def keep_answer(self, s: AsyncSession, row: dict[str, Any]) -> None:
        await s.execute(self.answers_table.insert().values(**row))


class KeyReused(Exception):
    """An Idempotency-Key already answered another request (method and path)."""

    def __init__(self, request: str) -> None:
        super().__init__(request)
        self.request = request


class IdempotencyKeys:
    def __init__(self, store: AnswerStore) -> None:
        self.store = store

    async def kept(self, s: AsyncSession, key: str, request: str) -> tuple[int, Any] | None:
        """The first answer (status, body) to this key, if any; KeyReused if it was given
        to another request."""
        seen = await self.store.kept_answer(s, key)
        if seen is None:
            return None
        if seen["request"] != request:
            raise KeyReused(seen["request"])
        return seen["status"], seen["body"]

    async def keep(self, s: AsyncSession, key: str, request: str, status: int, body: Any,
                   now: datetime) -> None:
        await self.store.keep_answer(s, {"key": key, "request": request, "status": status,
                                         "body": body, "created_at": now})

    async def replay(self, request: Request, sessions: async_sessionmaker[AsyncSession]
                     ) -> tuple[str | None, str, JSONResponse | None]:
        """(the request's key, what it is keyed to, the first answer to replay or None)."""
        key = request.headers.get("idempotency-key")
        where = f"{request.method} {request.url.path}"
        if not key:
            return None, where, None
        if len(key) > KEY_MAX:
            raise ApiError(422, [Problem.of(
                "invalid_field", "Khóa Idempotency-Key quá dài",
                f"Idempotency-Key is over {KEY_MAX} characters", "Idempotency-Key")])
        try:
            async with sessions() as s:
                kept = await self.kept(s, key, where)
        except KeyReused as exc:
            raise ApiError(422, [Problem.of(
                "idempotency_key_reused", "Khóa Idempotency-Key đã dùng cho yêu cầu khác",
                f"Idempotency-Key was used for {exc.request}", "Idempotency-Key")]) from None
        if kept is None:
            return key, where, None
        return key, where, JSONResponse(kept[1], status_code=kept[0],
                                        headers={"Idempotent-Replay": "true"})
