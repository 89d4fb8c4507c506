"""A lenient reader of Kafka record batches (message format v2), for salvage only.

aiokafka parses a fetch response strictly and lazily: a header key that is not UTF-8, a
batch whose CRC does not match or a record whose lengths disagree raises out of
``getmany`` — after the positions of the partitions drained in the same call have moved
(their records lost) and leaving the offending partition stuck. ``salvage`` (the
subscription's and the readers' fallback) re-reads such a partition's bytes with this
module instead, which never raises: it returns every record it can read, each one it
cannot trust as ``Unreadable`` (with the raw key, value and headers where the record's
bytes could be split, only its offsets and the reason where not), and the offset to go on
from.

Only the parts aiokafka would refuse are flagged; a record that parses here parses there.
Control batches (transaction markers) carry no records for consumers and are skipped, as
aiokafka skips them.
"""

import struct
from dataclasses import dataclass

from aiokafka.codec import gzip_decode, lz4_decode, snappy_decode, zstd_decode
from aiokafka.record.util import calc_crc32c, decode_varint

# Batch header: base offset (q), batch length (i), leader epoch (i), magic (b), crc (I),
# attributes (h), last offset delta (i), first and max timestamp (q q), producer id (q),
# producer epoch (h), base sequence (i), record count (i): 61 bytes.
_HEADER = struct.Struct(">qiibIhiqqqhii")
_HEADER_SIZE = _HEADER.size
_LENGTH_OFFSET = 12  # base offset + batch length: what the batch length does not count
_CRC_START = 21  # the CRC covers the attributes onwards
_CONTROL = 0x20
_LOG_APPEND_TIME = 0x08
_CODECS = {1: gzip_decode, 2: snappy_decode, 3: lz4_decode, 4: zstd_decode}


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A record as its bytes say; ``problem`` is why aiokafka cannot read it (or "")."""

    offset: int
    timestamp: int
    timestamp_type: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[bytes, bytes | None], ...]
    problem: str = ""


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Offsets ``first``..``last`` whose bytes cannot be split into records, and why."""

    first: int
    last: int
    reason: str


@dataclass(frozen=True, slots=True)
class Batches:
    """What ``read_batches`` found, in offset order, and the offset after it."""

    items: tuple["RawRecord | Unreadable", ...]
    next_offset: int | None  # None: not one whole batch in the bytes


class _Corrupt(Exception):
    pass


def read_batches(data: bytes, fetch_offset: int) -> Batches:
    """Every batch wholly contained in ``data`` (a fetch response's record set from
    ``fetch_offset``); a trailing partial batch is left for the next fetch."""
    items: list[RawRecord | Unreadable] = []
    pos, size, next_offset = 0, len(data), None
    while size - pos >= _HEADER_SIZE:
        (base, length, _epoch, magic, crc, attributes, last_delta, first_ts, max_ts, *_rest) = (
            _HEADER.unpack_from(data, pos)
        )
        count = _rest[-1]
        end = pos + _LENGTH_OFFSET + length
        sane_delta = last_delta if 0 <= last_delta < 2**31 - 1 else 0
        batch_next = base + sane_delta + 1
        if length < _HEADER_SIZE - _LENGTH_OFFSET:
            # Not even a header's worth: nothing after it can be located.
            items.append(Unreadable(base, base, f"record batch length {length} is invalid"))
            return Batches(tuple(items), max(base + 1, next_offset or 0))
        if end > size:
            break  # cut off by the fetch size: read it whole next time
        batch = memoryview(data)[pos:end]
        pos = end
        if batch_next <= fetch_offset:
            continue  # wholly before the requested offset (a fetch may start mid-batch)
        next_offset = batch_next
        if magic != 2:
            items.append(Unreadable(base, batch_next - 1, f"record batch magic {magic} (not v2)"))
            continue
        if calc_crc32c(batch[_CRC_START:]) != crc:
            items.append(Unreadable(base, batch_next - 1, "record batch CRC mismatch"))
            continue
        if attributes & _CONTROL:
            continue
        body = batch[_HEADER_SIZE:]
        codec = attributes & 0x07
        if codec:
            decode = _CODECS.get(codec)
            try:
                if decode is None:
                    raise _Corrupt(f"unknown compression codec {codec}")
                body = memoryview(decode(bytes(body)))
            except Exception as exc:
                reason = f"record batch not decompressible ({type(exc).__name__})"
                items.append(Unreadable(base, batch_next - 1, reason))
                continue
        ts_type = 1 if attributes & _LOG_APPEND_TIME else 0
        _read_records(items, body, count, base, first_ts, max_ts, ts_type, fetch_offset, batch_next)
    return Batches(tuple(items), next_offset)


def _read_records(
    items: list["RawRecord | Unreadable"],
    body: memoryview,
    count: int,
    base: int,
    first_ts: int,
    max_ts: int,
    ts_type: int,
    fetch_offset: int,
    batch_next: int,
) -> None:
    buffer = bytearray(body)
    pos = 0
    last = base - 1
    try:
        for _ in range(max(count, 0)):
            record, pos = _read_record(buffer, pos, base, first_ts, max_ts, ts_type)
            last = record.offset
            if record.offset >= fetch_offset:
                items.append(record)
        if pos != len(buffer):
            raise _Corrupt(f"{len(buffer) - pos} bytes after the batch's {count} records")
    except (_Corrupt, IndexError, ValueError, struct.error) as exc:
        # The rest of the batch cannot be split into records: one entry for all of it.
        reason = str(exc) if isinstance(exc, _Corrupt) else type(exc).__name__
        first = max(last + 1, base)
        if first <= batch_next - 1:
            items.append(Unreadable(first, batch_next - 1, f"record batch corrupt: {reason}"))


def _read_record(
    buffer: bytearray, pos: int, base: int, first_ts: int, max_ts: int, ts_type: int
) -> tuple[RawRecord, int]:
    length, pos = decode_varint(buffer, pos)
    start = pos
    if length < 0 or start + length > len(buffer):
        raise _Corrupt(f"record length {length} out of bounds")
    _attributes, pos = decode_varint(buffer, pos)
    ts_delta, pos = decode_varint(buffer, pos)
    offset_delta, pos = decode_varint(buffer, pos)
    key, pos = _nullable(buffer, pos, start + length)
    value, pos = _nullable(buffer, pos, start + length)
    header_count, pos = decode_varint(buffer, pos)
    if header_count < 0 or header_count > length:
        raise _Corrupt(f"record header count {header_count} invalid")
    headers: list[tuple[bytes, bytes | None]] = []
    problem = ""
    for index in range(header_count):
        h_key, pos = _nullable(buffer, pos, start + length)
        if h_key is None:
            raise _Corrupt("null record header key")
        h_value, pos = _nullable(buffer, pos, start + length)
        if not problem:
            try:
                h_key.decode("utf-8")
            except UnicodeDecodeError:
                problem = f"record header key #{index + 1} is not UTF-8"
        headers.append((h_key, h_value))
    if pos - start != length:
        raise _Corrupt(f"record of {length} bytes holds {pos - start}")
    timestamp = max_ts if ts_type else first_ts + ts_delta
    record = RawRecord(base + offset_delta, timestamp, ts_type, key, value, tuple(headers), problem)
    return record, pos


def _nullable(buffer: bytearray, pos: int, limit: int) -> tuple[bytes | None, int]:
    size, pos = decode_varint(buffer, pos)
    if size < 0:
        return None, pos
    if pos + size > limit:
        raise _Corrupt(f"field of {size} bytes runs past its record")
    return bytes(buffer[pos : pos + size]), pos + size
