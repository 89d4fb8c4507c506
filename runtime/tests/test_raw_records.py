"""The lenient batch reader of the salvage path (pure logic; the broker path is
``test_malformed_bytes``): it never raises, and flags exactly what aiokafka refuses."""

from aiokafka.record.memory_records import MemoryRecords
from careers_runtime.delivery.raw_records import RawRecord, Unreadable, read_batches
from careers_tools.testing.poison import RawRecordSpec, control_batch, record_batch
from hypothesis import given, settings
from hypothesis import strategies as st


def _at(batch: bytes, base: int) -> bytes:
    return base.to_bytes(8, "big") + batch[8:]  # the broker assigns the base offset


def test_valid_batches_read_like_aiokafka_reads_them() -> None:
    specs = [RawRecordSpec(b"k1", b"v1", ((b"h", b"x"), (b"n", None))), RawRecordSpec(None, None)]
    data = _at(record_batch(specs), 10) + _at(control_batch(), 12)
    batches = read_batches(data, 10)
    assert batches.next_offset == 13  # past the control batch, which yields nothing
    ours = [
        (r.offset, r.key, r.value, r.headers) for r in batches.items if isinstance(r, RawRecord)
    ]
    theirs = []
    records = MemoryRecords(data)
    while records.has_next():
        batch = records.next_batch()
        if not batch.is_control_batch:
            theirs += [
                (r.offset, r.key, r.value, tuple((k.encode(), v) for k, v in r.headers))
                for r in batch
            ]
    assert ours == theirs


def test_what_aiokafka_refuses_is_flagged_and_the_rest_kept() -> None:
    bad_key = _at(record_batch([RawRecordSpec(b"k", b"v", ((b"\xff", b"x"),))]), 0)
    corrupt = _at(record_batch([RawRecordSpec(b"k", b"v")] * 3, corrupt_crc=True), 1)
    good = _at(record_batch([RawRecordSpec(b"k", b"ok")]), 4)
    batches = read_batches(bad_key + corrupt + good + good[:30], 0)  # + a partial batch
    first, second, third = batches.items
    assert isinstance(first, RawRecord) and "not UTF-8" in first.problem and first.value == b"v"
    assert first.headers == ((b"\xff", b"x"),)
    assert isinstance(second, Unreadable) and (second.first, second.last) == (1, 3)
    assert "CRC" in second.reason
    assert isinstance(third, RawRecord) and not third.problem and third.value == b"ok"
    assert batches.next_offset == 5


def test_garbage_never_raises() -> None:
    for data in (b"", b"\x00" * 70, b"\xff" * 200, bytes(range(256)) * 3):
        read_batches(data, 0)
    batches = read_batches(b"\x00" * 8 + b"\x00\x00\x00\x05" + b"\x00" * 60, 0)
    assert isinstance(batches.items[0], Unreadable)


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(st.data())
def test_any_damage_to_a_batch_never_raises(data: st.DataObject) -> None:
    batch = record_batch([RawRecordSpec(b"key", b"value" * 5, ((b"h", b"v"),))] * 3)
    damaged = bytearray(batch)
    for _ in range(data.draw(st.integers(1, 8))):
        damaged[data.draw(st.integers(0, len(batch) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(damaged)))
    result = read_batches(bytes(damaged[:cut]), 0)
    assert all(isinstance(item, RawRecord | Unreadable) for item in result.items)
