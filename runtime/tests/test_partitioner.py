"""Our partitioner chooses exactly as aiokafka's ``DefaultPartitioner`` (Kafka's murmur2)."""

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from careers_runtime.partitioner import key_partitioner, murmur2, partition_of


def test_murmur2_equals_aiokafka_for_every_length() -> None:
    rng = random.Random(3)
    for length in range(0, 130):
        for _ in range(30):
            data = rng.randbytes(length)
            assert murmur2(data) == aiokafka_murmur2(data), length


def test_same_partition_as_the_default_partitioner() -> None:
    rng = random.Random(4)
    default = DefaultPartitioner()
    for partitions in (1, 3, 6, 12, 50):
        all_partitions = list(range(partitions))
        for _ in range(300):
            key = f"job_{rng.getrandbits(128):032x}".encode()
            expected = default(key, all_partitions, all_partitions)
            assert key_partitioner(key, all_partitions, all_partitions) == expected
            assert key_partitioner(key, all_partitions, all_partitions) == expected  # cached
            assert partition_of(key.decode(), partitions) == expected  # the job id as text


def test_unkeyed_records_go_to_an_available_partition() -> None:
    for _ in range(50):
        assert key_partitioner(None, [0, 1, 2], [2]) == 2
        assert key_partitioner(None, [0, 1, 2], []) in (0, 1, 2)
