"""Kafka clients built in one place, and topics created from the contracts' registry."""

from __future__ import annotations

from collections.abc import Iterable

import aiokafka.client
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner, murmur2
from aiokafka.protocol.metadata import MetadataRequest

from contracts.topics import TOPICS, Topic
from services.common.observability.logs import get_logger

log = get_logger(__name__)


class _MetadataWithoutAutoCreation(MetadataRequest):
    """A metadata request that never asks the broker to create the topics it names.

    Topics come from the registry, with its partition counts (`ensure_topics`). A broker
    that auto-creates makes a topic with one partition the moment a consumer or producer
    asks about it, and the local broker, right after it restarts empty, then hands out
    repeated offsets on it: consumers resuming there skipped records as already read,
    dossiers received just after the restart reached no consumer. Asked not to create,
    the broker answers "unknown topic" (retriable) until a relay recreates the topics
    properly and republishes its outbox.
    """

    def __init__(self, topics: list[str] | None = None,
                 allow_auto_topic_creation: bool | None = False) -> None:
        super().__init__(topics, allow_auto_topic_creation)


# aiokafka builds its requests from this module-level name and offers no option for it;
# every client of a process that runs our runtime (the services, their tests) asks alike.
aiokafka.client.MetadataRequest = _MetadataWithoutAutoCreation  # type: ignore[misc]


class KeyPartitioner:
    """aiokafka's DefaultPartitioner (the Java client's murmur2 of the key), with each key's
    hash remembered: a dossier's events all carry its code as key, and the hash is pure
    Python, a few microseconds a record. The keys that repeat are those of the dossiers in
    flight (a batch's events are sent together), so a few thousand are enough; 100,000 held
    13.5 MiB per service, a climb every soak showed until the first clear."""

    MAX_KEYS = 10_000

    def __init__(self) -> None:
        self._hashes: dict[bytes, int] = {}

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]
                 ) -> int:
        if key is None:
            return int(DefaultPartitioner()(key, all_partitions, available))
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self.MAX_KEYS:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[hashed % len(all_partitions)]


def make_producer(bootstrap: str, idempotence: bool, linger_ms: int = 5) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=idempotence,
        linger_ms=linger_ms,
        max_batch_size=256 * 1024,
        request_timeout_ms=15000,
        retry_backoff_ms=200,
        partitioner=KeyPartitioner(),
    )


FETCH_MAX_WAIT_MS = 100


def make_consumer(bootstrap: str, group_id: str, client_id: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,  # offsets are committed only after the batch's transaction
        auto_offset_reset="earliest",
        # Above the largest record read (consumer.MAX_RECORD_BYTES, 1 MiB), and a cap on
        # what one fetch buffers across partitions: a burst on many partitions otherwise
        # held up to 50 MiB of prefetched records per service (peak RSS over 200 MiB).
        max_partition_fetch_bytes=2 * 1024 * 1024,
        fetch_max_bytes=8 * 1024 * 1024,
        session_timeout_ms=10000,
        heartbeat_interval_ms=2000,
        metadata_max_age_ms=5000,
        # How long the broker may hold a fetch that finds nothing new. The local broker
        # answers a held fetch late, not as a record arrives, so this bounds what a record
        # waits at each hop of a quiet pipeline; shorter costs idle polls (CPU of the
        # consumer and the broker), never throughput under load.
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )


async def ensure_topics(bootstrap: str, topics: Iterable[Topic] = TOPICS) -> list[str]:
    """Create missing topics with their registry partition counts; return the created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        created: list[str] = []
        for topic in missing:
            try:
                result = await admin.create_topics(
                    [NewTopic(topic.name, num_partitions=topic.partitions, replication_factor=1)]
                )
            except TopicAlreadyExistsError:
                continue
            errors = [e for e in getattr(result, "topic_errors", []) if e[1] not in (0, 36)]
            if errors:
                raise RuntimeError(f"could not create topic {topic.name}: {errors}")
            created.append(topic.name)
        if created:
            log.info("topics created", topics=created)
        return created
    finally:
        await admin.close()
