"""Decoding Kinesis records: plain, gzip, KPL-aggregated (written by AWS's own aggregator)."""
import gzip
import hashlib
import json

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator

from bifrost_streams.ingestion.kinesis_records import (KPL_MAGIC, MAX_INFLATED_BYTES, as_text,
                                                       deaggregate, gunzip, payloads)


def _aggregate(items):
    aggregator = RecordAggregator()
    for key, data in items:
        assert aggregator.add_user_record(key, data) is None  # all fit in one record
    return aggregator.clear_and_get().get_contents()[2]


FLUENT = json.dumps({"log": "2026-01-31 10:00:00 ERROR [svc] boom", "level": "ERROR",
                     "service": "svc", "time": "2026-01-31T10:00:00Z"}).encode()


def test_plain_and_gzip_records():
    assert payloads(FLUENT) == [FLUENT]
    assert payloads(gzip.compress(FLUENT)) == [FLUENT]
    assert payloads(b"ERROR plain line\n") == [b"ERROR plain line\n"]


def test_kpl_aggregated_records_in_order_with_their_keys():
    items = [(f"key-{i % 3}", f"ERROR line {i}".encode()) for i in range(25)]
    data = _aggregate(items)
    assert data.startswith(KPL_MAGIC)
    assert deaggregate(data) == items
    assert payloads(data) == [d for _, d in items]


def test_kpl_records_with_gzip_inside_and_gzip_around():
    items = [("a", gzip.compress(FLUENT)), ("b", b"WARN plain"), ("c", b"")]
    data = _aggregate(items)
    assert payloads(data) == [FLUENT, b"WARN plain", b""]
    assert payloads(gzip.compress(data)) == [FLUENT, b"WARN plain", b""]


def test_large_aggregate_with_multibyte_varints():
    items = [("k", ("x" * 300 + str(i)).encode()) for i in range(200)]
    assert deaggregate(_aggregate(items)) == items


def test_a_wrong_checksum_makes_it_a_plain_record():
    data = bytearray(_aggregate([("k", b"ERROR a")]))
    data[-1] ^= 0xFF
    assert deaggregate(bytes(data)) is None
    assert payloads(bytes(data)) == [bytes(data)]


def test_a_malformed_body_with_a_good_checksum_is_a_plain_record():
    body = b"\x1a\xff\x01abc"  # field 3 claims 255 bytes, has 3
    data = KPL_MAGIC + body + hashlib.md5(body).digest()
    assert deaggregate(data) is None
    assert payloads(data) == [data]


def test_too_short_for_magic_and_digest():
    assert deaggregate(KPL_MAGIC + b"\x00" * 4) is None


def test_not_really_gzip_is_kept():
    fake = b"\x1f\x8bnot gzip at all"
    assert gunzip(fake) == fake


def test_a_gzip_bomb_is_refused():
    with pytest.raises(ValueError, match="inflates past"):
        gunzip(gzip.compress(b"\0" * (MAX_INFLATED_BYTES + 1)))


def test_text_with_a_stray_byte():
    assert as_text(b"ERROR caf\xe9") == "ERROR caf\ufffd"
