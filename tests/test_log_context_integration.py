"""The lines logged before a job-form entry, read from a real PostgreSQL's log_entries."""
from __future__ import annotations

import uuid

from bifrost_streams.storage.logs import HeimdallLogs
from tests.requests_corpus import LOG_ENTRIES_DDL
from tests.support.services import sql

ROWS = [  # id, seconds before the failing entry, service, text
    (7100, 30, "orders", "INFO order 41 accepted"),
    (7101, 20, "payments", "INFO card check passed"),  # another service
    (7102, 10, "orders", "WARN retrying reservation for order 42"),
    (7103, 5, "orders", "INFO order 42 reserved"),
    (7090, 600, "orders", "INFO long ago"),  # outside the time window
    (7104, 0, "orders", "ERROR order 42 failed: connection refused"),
    (7105, -5, "orders", "INFO after the failure"),  # after it
]


async def test_the_context_is_the_same_services_lines_just_before(postgres):
    dsn = postgres.create_database(f"ctx_{uuid.uuid4().hex[:8]}")
    sql(dsn, LOG_ENTRIES_DDL)
    for log_id, ago, service, text in ROWS:
        sql(dsn, "INSERT INTO log_entries (id, event_id, timestamp, source, service_name, "
                 "severity, log_content, log_hash) VALUES (%s, %s, "
                 "TIMESTAMP '2026-12-08 02:00:00' - make_interval(secs => %s), 'app', %s, "
                 "'INFO', %s, 'x')", (log_id, str(uuid.uuid4()), ago, service, text))
    logs = HeimdallLogs(dsn, attempts=1)
    assert await logs.preceding(7104, 5) == ["INFO order 41 accepted",
                                             "WARN retrying reservation for order 42",
                                             "INFO order 42 reserved"]
    assert await logs.preceding(7104, 1) == ["INFO order 42 reserved"]
    assert await logs.preceding(999999, 5) == []  # no such row: no context
    assert (await logs.fetch(7104)).content.startswith("ERROR order 42")
