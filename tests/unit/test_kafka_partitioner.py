"""The producer's partitioner picks the partition aiokafka's (the Java client's murmur2)
would, so a dossier's events keep one partition whoever produced them, and hashes each key
once."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner

from services.common.messaging import kafka
from services.common.messaging.kafka import KeyPartitioner


def test_the_same_partition_as_the_default_and_each_key_hashed_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[bytes] = []
    murmur2 = kafka.murmur2

    def counting(key: bytes) -> int:
        hashed.append(key)
        return int(murmur2(key))

    monkeypatch.setattr(kafka, "murmur2", counting)
    partitioner, default = KeyPartitioner(), DefaultPartitioner()
    keys = [f"000.01.01.H26-260302-{i:06d}".encode() for i in range(200)]
    for partitions in ([0], [0, 1, 2], list(range(6)), list(range(12))):
        for key in keys * 3:  # each dossier's several events
            assert partitioner(key, partitions, partitions) == \
                default(key, partitions, partitions)
    assert len(hashed) == len(keys)  # once per key, whatever the partition count
    assert partitioner(None, [0, 1, 2], [1]) == 1  # no key: an available partition
