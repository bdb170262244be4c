"""The bytes of a Kinesis record -> the log payloads inside it.

Pure: no AWS, no Kafka. A record may be
- a plain payload (a Fluent Bit JSON record, or text lines);
- gzip-compressed (Fluent Bit's `compression gzip`, or a producer of its own);
- KPL-aggregated: magic 0xF3 0x89 0x9A 0xC2, a protobuf AggregatedRecord, then the MD5 of
  that protobuf. Each user record inside may itself be gzip-compressed.

The protobuf is read by hand (three fields, two messages): a protobuf runtime would be a
dependency whose major versions break generated code, for about sixty lines. Like the KCL, a
record whose magic matches but whose MD5 does not is taken as a plain record.
"""
from __future__ import annotations

import hashlib
import zlib
from typing import List, Optional, Tuple

KPL_MAGIC = b"\xf3\x89\x9a\xc2"
GZIP_MAGIC = b"\x1f\x8b"
# A gzip bomb must not take the worker's memory: a log record is never this large.
MAX_INFLATED_BYTES = 16 * 1024 * 1024


class _Truncated(ValueError):
    pass


def _varint(data: bytes, pos: int) -> Tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _Truncated("varint runs past the end")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes):
    """(field number, wire type, value) of one protobuf message; bytes for wire type 2."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise _Truncated("field runs past the end")
            value, pos = data[pos:pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise _Truncated(f"wire type {wire} is not used by the KPL format")
        if pos > len(data):
            raise _Truncated("field runs past the end")
        yield number, wire, value


def deaggregate(data: bytes) -> Optional[List[Tuple[str, bytes]]]:
    """The (partition key, data) user records of a KPL-aggregated record, in order; None
    when `data` is not one (no magic, a wrong checksum or a malformed body)."""
    if len(data) < len(KPL_MAGIC) + 16 or not data.startswith(KPL_MAGIC):
        return None
    body, digest = data[len(KPL_MAGIC):-16], data[-16:]
    if hashlib.md5(body).digest() != digest:
        return None
    keys: List[str] = []
    records: List[Tuple[int, bytes]] = []
    try:
        for number, wire, value in _fields(body):
            if number == 1 and wire == 2:
                keys.append(value.decode("utf-8", errors="replace"))
            elif number == 3 and wire == 2:
                key_index, payload = 0, b""
                for inner, inner_wire, inner_value in _fields(value):
                    if inner == 1 and inner_wire == 0:
                        key_index = inner_value
                    elif inner == 3 and inner_wire == 2:
                        payload = inner_value
                records.append((key_index, payload))
    except _Truncated:
        return None
    return [(keys[index] if index < len(keys) else "", payload) for index, payload in records]


def gunzip(data: bytes) -> bytes:
    """Inflate a gzip payload; anything else comes back unchanged (as does a payload that
    only looks like gzip and is not)."""
    if not data.startswith(GZIP_MAGIC):
        return data
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        inflated = inflater.decompress(data, MAX_INFLATED_BYTES)
    except zlib.error:
        return data
    if inflater.unconsumed_tail:
        raise ValueError(f"gzip record inflates past {MAX_INFLATED_BYTES} bytes")
    return inflated


def payloads(data: bytes) -> List[bytes]:
    """Every log payload a Kinesis record carries, decompressed, in order."""
    data = gunzip(data)
    users = deaggregate(data)
    if users is None:
        return [data]
    return [gunzip(payload) for _, payload in users]


def as_text(payload: bytes) -> str:
    # A log line with a stray byte is still worth analysing; the replacement marks the spot.
    return payload.decode("utf-8", errors="replace")
