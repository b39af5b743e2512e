"""Every SQL statement of intake, and the port the handlers see.

The session is the caller's (one transaction per request or per consumed batch), passed on
every call; a dossier travels as the Dossier aggregate (mapped here to and from its row),
parked events and kept answers as plain dicts. `IntakeStore` is all the handlers know, so a fake
kept in memory stands in for it in unit tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.http.idempotency import KeptAnswers
from services.common.persistence.bulk import (
    defer_insert,
    delete_by_key,
    dialect_of,
    flush_inserts,
    rows_by_key,
    upsert,
    values_of,
    write_rows,
)
from services.intake import tables
from services.intake.dossier import Dossier

# The session the handlers pass through without looking inside.
Session = AsyncSession
# Raised when an insert loses a race on a unique key (the dossier's submission_id): the
# API answers with the winner's dossier instead.
DuplicateKey = IntegrityError

# The dossiers table's columns, as the aggregate's fields.
COLUMNS = tuple(f.name for f in fields(Dossier))


def dossier_of(row: Mapping[str, Any]) -> Dossier:
    """The aggregate of a dossiers row (its columns are the aggregate's fields)."""
    return Dossier(**row)


def dossier_values(dossier: Dossier, columns: tuple[str, ...] = COLUMNS) -> dict[str, Any]:
    """The columns' values of a dossier, for a write or a view."""
    return {c: getattr(dossier, c) for c in columns}


class IntakeStore(Protocol):
    """What the handlers read and write; one call, one statement."""

    async def dossier(self, s: Session, code: str) -> Dossier | None: ...

    async def dossiers(self, s: Session, codes: list[str]) -> dict[str, Dossier]: ...

    async def begin_batch(self, s: Session, codes: set[str]) -> None: ...

    async def end_batch(self, s: Session) -> None: ...

    async def update_dossiers(self, s: Session, now: datetime, dossiers: list[Dossier],
                              columns: tuple[str, ...]) -> None: ...

    async def dossier_by_submission(self, s: Session, submission_id: str | None
                                    ) -> Dossier | None: ...

    async def next_sequence(self, s: Session, agency_code: str, day: date) -> int: ...

    async def insert_dossier(self, s: Session, dossier: Dossier) -> None: ...

    async def update_dossier(self, s: Session, dossier: Dossier, columns: tuple[str, ...],
                             now: datetime) -> None: ...

    async def set_status_if_newer(self, s: Session, code: str, status: str, at: datetime,
                                  now: datetime) -> None: ...

    async def page(self, s: Session, *, agency: str | None, status: str | None,
                   channel: str | None, from_: datetime | None, to: datetime | None,
                   after: tuple[datetime, str] | None, limit: int,
                   within: set[str] | None = None) -> list[Dossier]: ...

    async def park(self, s: Session, row: dict[str, Any]) -> None: ...

    async def parked_for(self, s: Session, code: str) -> list[dict[str, Any]]: ...

    async def drop_parked_for(self, s: Session, code: str) -> None: ...

    async def parked_before(self, s: Session, before: datetime, limit: int
                            ) -> list[dict[str, Any]]: ...

    async def drop_parked(self, s: Session, event_ids: list[str]) -> None: ...

    async def kept_answer(self, s: Session, key: str) -> dict[str, Any] | None: ...

    async def keep_answer(self, s: Session, row: dict[str, Any]) -> None: ...


@dataclass
class _Batch:
    """A consumed batch's view of the dossiers it touches: read in one query per table at
    its start, changed in memory, written in one statement per table at its end."""

    dossiers: dict[str, Dossier | None]
    parked: dict[str, list[dict[str, Any]]]
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    dropped: set[str] = field(default_factory=set)


_BATCH = "intake_batch"


def _batch(s: Session) -> _Batch | None:
    return s.info.get(_BATCH)  # type: ignore[no-any-return]


class IntakeRepository(KeptAnswers):
    """IntakeStore over intake's own tables (SQLite or PostgreSQL)."""

    answers_table = tables.idempotency

    async def begin_batch(self, s: Session, codes: set[str]) -> None:
        """From here to end_batch, the dossiers and parked events of `codes` are answered
        from memory and their writes deferred: a province batch costs a few statements,
        not several per event."""
        found = await self.dossiers(s, sorted(codes))
        parked: dict[str, list[dict[str, Any]]] = {c: [] for c in codes}
        dialect = dialect_of(s)
        for r in (await s.execute(
                rows_by_key(tables.parked, "dossier_code", dialect, unique=False),
                {"dossier_code": values_of(sorted(codes), dialect)})).mappings():
            parked[r["dossier_code"]].append(dict(r))
        for events in parked.values():
            events.sort(key=lambda r: r["occurred_at"])
        s.info[_BATCH] = _Batch({c: found.get(c) for c in codes}, parked)

    async def end_batch(self, s: Session) -> None:
        """The batch's deferred writes: inserts, then the statuses (each only if newer, as
        set_status_if_newer), then the parked events applied."""
        batch = s.info.pop(_BATCH, None)
        if batch is None:
            return
        await flush_inserts(s)
        t = tables.dossiers
        # Each status only if newer than the stored one, as set_status_if_newer.
        await write_rows(s, t, list(batch.statuses.values()), "update", ("code",),
                         newer="status_at")
        if batch.dropped:
            dialect = dialect_of(s)
            await s.execute(delete_by_key(tables.parked, "dossier_code", dialect),
                            {"dossier_code": values_of(sorted(batch.dropped), dialect)})

    async def dossier(self, s: Session, code: str) -> Dossier | None:
        batch = _batch(s)
        if batch is not None and code in batch.dossiers:
            # Not copied: a Dossier is changed only here (the domain makes new ones), and
            # only by the status this batch sets, as a read after it would answer.
            return batch.dossiers[code]
        t = tables.dossiers
        row = (await s.execute(select(t).where(t.c.code == code))).mappings().first()
        return dossier_of(row) if row else None

    async def dossiers(self, s: Session, codes: list[str]) -> dict[str, Dossier]:
        """Many dossiers by code in one query (a consumed batch's)."""
        if not codes:
            return {}
        dialect = dialect_of(s)
        rows = (await s.execute(rows_by_key(tables.dossiers, "code", dialect, unique=True),
                                {"code": values_of(codes, dialect)})).mappings()
        return {r["code"]: dossier_of(r) for r in rows}

    async def update_dossiers(self, s: Session, now: datetime, dossiers: list[Dossier],
                              columns: tuple[str, ...]) -> None:
        """The same columns of many dossiers in one executemany (a batch of one kind of
        news)."""
        if not dossiers:
            return
        names = sorted(columns)
        await write_rows(s, tables.dossiers, [
            {"code": d.code, "updated_at": now, **{c: getattr(d, c) for c in names}}
            for d in dossiers], "update", ("code",))

    async def dossier_by_submission(self, s: Session, submission_id: str | None
                                    ) -> Dossier | None:
        t = tables.dossiers
        row = (await s.execute(select(t).where(t.c.submission_id == submission_id))
               ).mappings().first()
        return dossier_of(row) if row else None

    async def next_sequence(self, s: Session, agency_code: str, day: date) -> int:
        """The sequence lives in the database, so replicas never share or skip a number."""
        t = tables.code_sequences
        # One atomic statement: the first number of a day cannot be taken twice by two
        # replicas racing to create the day's row, and the row lock orders the rest.
        statement = upsert(s, t).values(agency_code=agency_code, day=day, last=1)
        statement = statement.on_conflict_do_update(index_elements=[t.c.agency_code, t.c.day],
                                                    set_={"last": t.c.last + 1})
        return int((await s.execute(statement.returning(t.c.last))).scalar_one())

    async def insert_dossier(self, s: Session, dossier: Dossier) -> None:
        row = dossier_values(dossier)
        batch = _batch(s)
        if batch is not None:
            defer_insert(s, tables.dossiers, row)
            batch.dossiers[dossier.code] = dossier
            return
        await s.execute(tables.dossiers.insert().values(**row))

    async def update_dossier(self, s: Session, dossier: Dossier, columns: tuple[str, ...],
                             now: datetime) -> None:
        """The dossier's `columns` as they are in it (and updated_at)."""
        t = tables.dossiers
        await s.execute(update(t).where(t.c.code == dossier.code).values(
            updated_at=now, **dossier_values(dossier, columns)))

    async def set_status_if_newer(self, s: Session, code: str, status: str, at: datetime,
                                  now: datetime) -> None:
        """The national status follows the latest news, whatever order it arrived in."""
        batch = _batch(s)
        if batch is not None and code in batch.dossiers:
            known = batch.dossiers[code]
            pending = batch.statuses.get(code)
            newest = pending["status_at"] if pending else (known.status_at if known else None)
            if newest is None or newest <= at:
                batch.statuses[code] = {"code": code, "status": status, "status_at": at,
                                        "updated_at": now}
                if known is not None:
                    known.status, known.status_at = status, at
            return
        t = tables.dossiers
        await s.execute(update(t).where(t.c.code == code, or_(
            t.c.status_at.is_(None), t.c.status_at <= at)).values(
            status=status, status_at=at, updated_at=now))

    async def page(self, s: Session, *, agency: str | None, status: str | None,
                   channel: str | None, from_: datetime | None, to: datetime | None,
                   after: tuple[datetime, str] | None, limit: int,
                   within: set[str] | None = None) -> list[Dossier]:
        """Up to `limit` dossiers by receipt time then code, after the cursor (keyset
        pagination: pages stay stable while new dossiers arrive); `within`: the caller's
        agencies, filtered before the limit."""
        t = tables.dossiers
        query = select(t).order_by(t.c.received_at, t.c.code).limit(limit)
        if within is not None:
            query = query.where(t.c.agency_code.in_(sorted(within)))
        for column, value in ((t.c.agency_code, agency), (t.c.status, status),
                              (t.c.channel, channel)):
            if value is not None:
                query = query.where(column == value)
        if from_ is not None:
            query = query.where(t.c.received_at >= from_)
        if to is not None:
            query = query.where(t.c.received_at < to)
        if after is not None:
            at, code = after
            query = query.where(or_(t.c.received_at > at,
                                    and_(t.c.received_at == at, t.c.code > code)))
        return [dossier_of(r) for r in (await s.execute(query)).mappings().all()]

    async def park(self, s: Session, row: dict[str, Any]) -> None:
        batch = _batch(s)
        if batch is not None and row["dossier_code"] in batch.parked:
            # Kept in the batch's view too: the receipt may follow in this very batch.
            defer_insert(s, tables.parked, row)
            batch.parked[row["dossier_code"]].append(row)
            return
        await s.execute(tables.parked.insert().values(**row))

    async def parked_for(self, s: Session, code: str) -> list[dict[str, Any]]:
        batch = _batch(s)
        if batch is not None and code in batch.parked:
            return sorted((dict(r) for r in batch.parked[code]),
                          key=lambda r: r["occurred_at"])
        t = tables.parked
        rows = (await s.execute(select(t).where(t.c.dossier_code == code)
                                .order_by(t.c.occurred_at))).mappings().all()
        return [dict(r) for r in rows]

    async def drop_parked_for(self, s: Session, code: str) -> None:
        batch = _batch(s)
        if batch is not None and code in batch.parked:
            batch.parked[code] = []
            batch.dropped.add(code)
            return
        t = tables.parked
        await s.execute(delete(t).where(t.c.dossier_code == code))

    async def parked_before(self, s: Session, before: datetime, limit: int
                            ) -> list[dict[str, Any]]:
        t = tables.parked
        # SKIP LOCKED (PostgreSQL): two replicas never answer the same parked event twice.
        rows = (await s.execute(select(t).where(t.c.parked_at < before)
                                .order_by(t.c.parked_at).limit(limit)
                                .with_for_update(skip_locked=True))).mappings().all()
        return [dict(r) for r in rows]

    async def drop_parked(self, s: Session, event_ids: list[str]) -> None:
        dialect = dialect_of(s)
        await s.execute(delete_by_key(tables.parked, "event_id", dialect),
                        {"event_id": values_of(event_ids, dialect)})
