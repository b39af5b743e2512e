"""Dead letters, for operators: `python -m services.<name> dead-letters ...`

    list   [--reason R] [--since TIME]            every letter of the service's dead-letter
                                                  topic: id, time, reason, origin, attempts,
                                                  replays
    show   ID [--operator NAME]                   one letter whole, its value unsealed; the
                                                  look is written to the audit trail first
    replay [--id ID ...] [--reason R] [--since TIME] [--force] [--operator NAME]

A letter's ID is `<partition>:<offset>` on `onestop.dlq.<service>.v1`. Replay publishes the
original record again, to its original topic and partition, with its key, its value
(unsealed: the consumer reads the original bytes) and its headers but the `dlq-*` ones, so
every reader of that topic sees the same event id again and its inbox keeps it once. Fix
the cause first (a limit, the catalogue, a consumer), then replay.

Each letter is replayed once: the replay is marked in the service's own database
(`dead_letter_replays`), in the transaction that commits only after the broker acknowledged
the record, with its row in the audit trail. A second replay is refused unless `--force`
(the inbox still keeps an event it has applied once). A database row rather than a topic
of marks: it is written in one transaction with the audit row, its primary key refuses two
operators replaying the same letter at once, and the service reads it back for
`onestop_dead_letters_replayed_total`.

Not replayed: a letter whose value the broker refused (`dlq-value-dropped`), and a record of
a topic whose writers sign their records (the ingest topic): a sealed letter does not keep
the signature, and a signature expires in a day; the province sends it again, with the same
event id."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import sys
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError

from contracts.topics import dead_letter_topic
from services.common.messaging.kafka import make_producer
from services.common.sealing import SEALED_HEADER, SealError

if TYPE_CHECKING:
    from services.common.runtime import Runtime

DLQ_PREFIX = "dlq-"
READ_WAIT_SECONDS = 30.0  # to reach the end the broker reported


@dataclass(frozen=True)
class Letter:
    """One record of a dead-letter topic."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    @classmethod
    def of(cls, record: ConsumerRecord) -> Letter:
        return cls(record.partition, record.offset, record.timestamp, record.key,
                   record.value or b"", tuple((k, v or b"") for k, v in record.headers or ()))

    @property
    def id(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def mark_key(self) -> tuple[int, int, int]:
        return self.partition, self.offset, self.timestamp_ms

    def header(self, name: str) -> str:
        for k, v in self.headers:
            if k == name:
                return v.decode("utf-8", "replace")
        return ""

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    @property
    def reason(self) -> str:
        return self.header("dlq-reason")

    @property
    def original_topic(self) -> str:
        return self.header("dlq-original-topic")

    @property
    def origin(self) -> str:
        return (f"{self.original_topic}/{self.header('dlq-original-partition')}"
                f"@{self.header('dlq-original-offset')}")

    @property
    def sealed(self) -> bool:
        return bool(self.header(SEALED_HEADER))

    @property
    def dossier(self) -> str | None:
        return self.key.decode("utf-8", "replace") if self.key else None

    def replay_headers(self) -> list[tuple[str, bytes]]:
        return [(k, v) for k, v in self.headers if not k.startswith(DLQ_PREFIX)]


def parse_id(text: str) -> tuple[int, int]:
    try:
        partition, offset = text.split(":")
        return int(partition), int(offset)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a letter id (<partition>:<offset>, as `list` shows)") from None


def parse_since(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (e.g. +07:00 or Z)")
    return at


def select_letters(letters: Iterable[Letter], *, ids: Sequence[tuple[int, int]] = (),
                   reason: str | None = None, since: datetime | None = None) -> list[Letter]:
    """The letters every given filter accepts (any of `ids`, the reason, from `since`)."""
    wanted = set(ids)
    return [letter for letter in letters
            if (not wanted or (letter.partition, letter.offset) in wanted)
            and (reason is None or letter.reason == reason)
            and (since is None or letter.at >= since)]


# --- the dead-letter topic, read without a consumer group ------------------------------


@contextlib.asynccontextmanager
async def _reader(bootstrap: str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def read_letters(bootstrap: str, topic: str) -> list[Letter]:
    """Every letter on the topic now, in partition and offset order."""
    async with _reader(bootstrap) as consumer:
        await consumer.topics()  # metadata, so the topic's partitions are known
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic)
                                                         or ())]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        letters: list[Letter] = []
        deadline = time.monotonic() + READ_WAIT_SECONDS
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                letters.extend(Letter.of(r) for r in records)
            behind = [tp for tp in tps if await consumer.position(tp) < ends[tp]]
            # Past the end the broker reported, an empty fetch is the end: some brokers
            # report less than they hold.
            if not batch and (not behind or time.monotonic() > deadline):
                break
        return sorted(letters, key=lambda x: (x.partition, x.offset))


async def read_letter(bootstrap: str, topic: str, partition: int, offset: int
                      ) -> Letter | None:
    async with _reader(bootstrap) as consumer:
        tp = TopicPartition(topic, partition)
        await consumer.topics()
        if partition not in (consumer.partitions_for_topic(topic) or ()):
            return None
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.seek(tp, offset)
        deadline = time.monotonic() + READ_WAIT_SECONDS
        while time.monotonic() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=500)
            for record in batch.get(tp, []):
                return Letter.of(record) if record.offset == offset else None
            if not batch and await consumer.position(tp) >= end:
                return None
        return None


# --- the marks ---------------------------------------------------------------------------


class AlreadyReplayed(Exception):
    pass


async def count_replays(runtime: Runtime) -> None:
    """onestop_dead_letters_replayed_total, from the marks every operator's command wrote."""
    t = runtime.tables.replays
    async with runtime.sessions() as s:
        rows = (await s.execute(select(t.c.original_topic, t.c.reason, func.sum(t.c.replays))
                                .group_by(t.c.original_topic, t.c.reason))).all()
    runtime.metrics.dead_letters_replayed.set({(topic, reason): float(total)
                                                for topic, reason, total in rows})


@dataclass
class DeadLetters:
    runtime: Runtime
    operator: str

    @property
    def topic(self) -> str:
        return dead_letter_topic(self.runtime.name).name

    @property
    def bootstrap(self) -> str:
        return self.runtime.settings.kafka_bootstrap_servers

    async def marks(self) -> dict[tuple[int, int, int], dict[str, object]]:
        t = self.runtime.tables.replays
        async with self.runtime.sessions() as s:
            rows = (await s.execute(select(t))).mappings().all()
        return {(r["dlq_partition"], r["dlq_offset"], r["dlq_timestamp_ms"]): dict(r)
                for r in rows}

    def original(self, letter: Letter) -> bytes:
        return self.runtime.sealer.unseal(letter.value) if letter.sealed else letter.value

    async def has_marks_table(self) -> bool:
        async with self.runtime.engine.connect() as conn:
            return await conn.run_sync(
                lambda c: inspect(c).has_table(self.runtime.tables.replays.name))

    async def print_list(self, letters: list[Letter]) -> None:
        marks = await self.marks()
        print(f"{'ID':<10} {'TIME (UTC)':<20} {'REASON':<24} {'ORIGIN':<44} "
              f"{'ATTEMPTS':<8} REPLAYED")
        for letter in letters:
            mark = marks.get(letter.mark_key)
            replayed = (f"{mark['replays']}x, last {_when(mark['replayed_at'])} by "
                        f"{mark['operator']}" if mark else "-")
            print(f"{letter.id:<10} {_when(letter.at):<20} {letter.reason:<24} "
                  f"{letter.origin:<44} {letter.header('dlq-attempts'):<8} {replayed}")
        print(f"{len(letters)} dead letter(s) on {self.topic}", file=sys.stderr)

    async def show(self, letter: Letter) -> None:
        target = f"{self.topic}/{letter.id}"
        # Recorded before anything is shown, as every read of personal data is.
        await self.runtime.audit.read(None, action="dead_letter.show",
                                      dossier_code=letter.dossier, target=target,
                                      actor=self.operator)
        print(f"id: {letter.id}\ntime: {_when(letter.at)}\n"
              f"key: {letter.dossier or ''}")
        for k, v in letter.headers:
            print(f"header {k}: {v.decode('utf-8', 'replace')}")
        print("value:" + (" (unsealed)" if letter.sealed else ""))
        sys.stdout.flush()
        sys.stdout.buffer.write(self.original(letter) + b"\n")
        sys.stdout.buffer.flush()

    def refusal(self, letter: Letter) -> str | None:
        """Why this letter cannot be replayed at all, whatever --force says."""
        if letter.header("dlq-value-dropped"):
            return "its value was not kept (the broker refused it)"
        routes = {s.topic.name: s for s in self.runtime.subscriptions}
        route = routes.get(letter.original_topic)
        if route is None:
            return f"{self.runtime.name} does not read {letter.original_topic or '?'}"
        if route.verify is not None:
            return ("its writer signs the records of this topic and a dead letter does not "
                    "keep the signature: the writer sends it again, with the same event id")
        return None

    async def replay(self, letters: list[Letter], force: bool) -> int:
        """Each letter published again, once unless forced; 0 when all were, else 1."""
        failed = 0
        producer = make_producer(self.bootstrap, self.runtime.settings.kafka_idempotence)
        await producer.start()
        try:
            for letter in letters:
                try:
                    count = await self._replay(producer, letter, force)
                except (AlreadyReplayed, SealError, ValueError) as exc:
                    print(f"refused {letter.id}: {exc}", file=sys.stderr)
                    failed += 1
                    continue
                except KafkaError as exc:  # nothing marked: the transaction rolled back
                    print(f"not replayed {letter.id}: the broker did not take it ({exc!r})",
                          file=sys.stderr)
                    failed += 1
                    continue
                print(f"replayed {letter.id} to {letter.original_topic}/"
                      f"{letter.header('dlq-original-partition')} (replay {count})")
        finally:
            await producer.stop()
        return 1 if failed else 0

    async def _replay(self, producer: AIOKafkaProducer, letter: Letter, force: bool) -> int:
        why = self.refusal(letter)
        if why is not None:
            raise ValueError(why)
        value = self.original(letter)
        partition = int(letter.header("dlq-original-partition"))
        t = self.runtime.tables.replays
        now = self.runtime.clock.now()
        where = ((t.c.dlq_partition == letter.partition) & (t.c.dlq_offset == letter.offset)
                 & (t.c.dlq_timestamp_ms == letter.timestamp_ms))
        try:
            async with self.runtime.sessions() as s, s.begin():
                mark = (await s.execute(select(t).where(where))).mappings().first()
                if mark is not None and not force:
                    raise AlreadyReplayed(
                        f"already replayed {mark['replays']}x, last {_when(mark['replayed_at'])}"
                        f" by {mark['operator']}; --force replays it again")
                # The mark first: a second operator's insert waits on it, then fails.
                if mark is None:
                    count = 1
                    await s.execute(t.insert().values(
                        dlq_partition=letter.partition, dlq_offset=letter.offset,
                        dlq_timestamp_ms=letter.timestamp_ms,
                        original_topic=letter.original_topic, reason=letter.reason[:100],
                        replays=count, replayed_at=now, operator=self.operator[:200]))
                else:
                    count = int(mark["replays"]) + 1
                    await s.execute(t.update().where(where).values(
                        replays=count, replayed_at=now, operator=self.operator[:200]))
                # Committed only once the broker has the record: a failed send marks nothing.
                await producer.send_and_wait(
                    letter.original_topic, value, key=letter.key, partition=partition,
                    headers=letter.replay_headers())
                await self.runtime.audit.record(
                    s, None, actor=self.operator, action="dead_letter.replay",
                    dossier_code=letter.dossier, target=f"{self.topic}/{letter.id}")
        except IntegrityError:
            raise AlreadyReplayed("being replayed by someone else just now") from None
        return count


def _when(at: object) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(at, datetime) \
        else str(at)


def _parser(service: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m services.{service} dead-letters",
        description=f"the dead letters of {service} (onestop.dlq.{service}.v1)")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="every letter, with its reason and origin")
    show = commands.add_parser("show", help="one letter whole, unsealed (audited)")
    show.add_argument("id", type=parse_id, help="<partition>:<offset>, as list shows")
    replay = commands.add_parser("replay", help="publish letters again to their topic")
    replay.add_argument("--id", dest="ids", type=parse_id, action="append", default=[],
                        help="a letter (repeatable)")
    replay.add_argument("--force", action="store_true",
                        help="replay letters already replayed")
    for sub in (listing, replay):
        sub.add_argument("--reason", help="only letters of this dlq-reason")
        sub.add_argument("--since", type=parse_since,
                         help="only letters dead-lettered from this time (ISO 8601, zoned)")
    for sub in (show, replay):
        sub.add_argument("--operator", default=None,
                         help="who does it, for the audit trail (default: the OS user)")
    return parser


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no name for this uid (a container)
        return "unknown"


async def run(runtime: Runtime, argv: Sequence[str]) -> int:
    parser = _parser(runtime.name)
    args = parser.parse_args(list(argv))
    if args.command == "replay" and not (args.ids or args.reason or args.since):
        parser.error("replay needs --id, --reason or --since (replaying everything at once "
                     "is never what was meant)")
    letters = DeadLetters(runtime, getattr(args, "operator", None) or _os_user())
    try:
        if not await letters.has_marks_table():
            # Never migrated from here: a service older than this command would then meet
            # a revision it does not know at its next start.
            print(f"dead-letters: the database is not migrated to this version; the service "
                  f"migrates it at start, or `python -m services.{runtime.name} migrate`",
                  file=sys.stderr)
            return 1
        if args.command == "show":
            found = await read_letter(letters.bootstrap, letters.topic, *args.id)
            if found is None:
                print(f"no dead letter {args.id[0]}:{args.id[1]} on {letters.topic}",
                      file=sys.stderr)
                return 1
            await letters.show(found)
            return 0
        ids = getattr(args, "ids", [])
        chosen = select_letters(await read_letters(letters.bootstrap, letters.topic),
                                ids=ids, reason=args.reason, since=args.since)
        if args.command == "list":
            await letters.print_list(chosen)
            return 0
        missing = set(ids) - {(x.partition, x.offset) for x in chosen}
        for partition, offset in sorted(missing):
            print(f"refused {partition}:{offset}: no such dead letter on {letters.topic} "
                  "(or not of the reason and time given)", file=sys.stderr)
        if not chosen:
            print(f"no dead letter on {letters.topic} matches", file=sys.stderr)
            return 1
        return max(await letters.replay(chosen, args.force), 1 if missing else 0)
    except SealError as exc:
        print(f"dead-letters: {exc} (ONESTOP_DLQ_KEY)", file=sys.stderr)
        return 1
    finally:
        await runtime.engine.dispose()
