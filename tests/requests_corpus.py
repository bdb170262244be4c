"""Requests for the integration tests: both contract forms, redeliveries and malformed ones."""
from __future__ import annotations

import json
import random
import uuid
from typing import Any, Dict, List, Tuple

import psycopg2

from bifrost_streams import codes

LOG_ENTRIES_DDL = """
CREATE TABLE IF NOT EXISTS log_entries (
    id BIGSERIAL PRIMARY KEY,
    event_id VARCHAR(36) UNIQUE NOT NULL,
    timestamp TIMESTAMP NOT NULL,
    source VARCHAR(100) NOT NULL,
    service_name VARCHAR(100),
    environment VARCHAR(50),
    severity VARCHAR(20) NOT NULL,
    log_content TEXT NOT NULL,
    log_hash VARCHAR(64) NOT NULL,
    metadata JSONB,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
"""

TEMPLATES = [
    "ERROR Connection to {host}:5432 timed out after {n}ms (attempt {m})",
    "ERROR java.lang.NullPointerException at com.shop.OrderService.place(OrderService.java:{n})",
    "WARN Disk usage on /var/lib/data is {n}% on node-{m}",
    "ERROR Redis GET session:{n} failed: connection refused",
    "FATAL OutOfMemoryError: Java heap space (heap {n}MB, used {m}MB)",
    "ERROR HTTP 503 from payment-gateway for order {n} in {m}ms",
    "ERROR Kafka producer send failed for topic orders partition {m}: request timed out",
    "ERROR TLS handshake with auth.internal:{n} failed: certificate expired",
]


def log_line(rng: random.Random, template_index: int) -> str:
    return TEMPLATES[template_index].format(host=f"10.0.{rng.randint(0, 9)}.{rng.randint(1, 254)}",
                                            n=rng.randint(1, 99999), m=rng.randint(1, 9))


def insert_log_entries(dsn: str, lines: List[Tuple[str, str]]) -> List[int]:
    """Heimdall's side: rows in log_entries; returns their ids."""
    conn = psycopg2.connect(dsn)
    ids = []
    with conn, conn.cursor() as cur:
        cur.execute(LOG_ENTRIES_DDL)
        for service, line in lines:
            cur.execute(
                "INSERT INTO log_entries (event_id, timestamp, source, service_name, environment,"
                " severity, log_content, log_hash) VALUES (%s, now(), 'app', %s, 'test', 'ERROR',"
                " %s, md5(%s)) RETURNING id", (str(uuid.uuid4()), service, line, line))
            ids.append(cur.fetchone()[0])
    conn.close()
    return ids


def job_request(log_id: int) -> Dict[str, Any]:
    job_id = str(uuid.uuid4())
    return {"schema_version": 1, "job_id": job_id,
            "idempotency_key": f"manual:log:{log_id}:{job_id[:8]}", "log_id": log_id,
            "tenant_id": None, "priority": "ERROR", "timeout_ms": None, "model_policy": None,
            "trace_id": str(uuid.uuid4()), "timestamp": "2026-01-31T10:00:00Z"}


def inline_request(line: str, service: str) -> Dict[str, Any]:
    return {"request_id": str(uuid.uuid4()), "timestamp": "2026-01-31T10:00:00Z",
            "log_id": random.randint(1, 10**9), "log_content": line, "service_name": service,
            "environment": "production", "analysis_type": "error", "priority": "HIGH",
            "callback_topic": "analysis.result", "correlation_id": str(uuid.uuid4())}


def malformed_requests(max_bytes: int) -> List[Tuple[bytes, str]]:
    """Ten messages that cannot be parsed, each with the DLQ code it must get."""
    good = job_request(1)
    return [
        (b'{"job_id": "x", "log_id": ', codes.INVALID_JSON),
        (b"\xff\xfe not utf-8 \x80", codes.INVALID_JSON),
        (b'["a", "list"]', codes.INVALID_REQUEST),
        (json.dumps({**good, "log_id": "five"}).encode(), codes.INVALID_REQUEST),
        (json.dumps({**good, "log_id": True}).encode(), codes.INVALID_REQUEST),
        (json.dumps({k: v for k, v in good.items() if k != "job_id"}).encode(),
         codes.INVALID_REQUEST),
        (json.dumps({k: v for k, v in good.items() if k != "idempotency_key"}).encode(),
         codes.INVALID_REQUEST),
        (json.dumps({**good, "model_policy": "cloud"}).encode(), codes.INVALID_REQUEST),
        (json.dumps({**good, "schema_version": 2}).encode(), codes.UNSUPPORTED_SCHEMA_VERSION),
        (json.dumps({**inline_request("x" * (max_bytes + 10), "big")}).encode(),
         codes.PAYLOAD_TOO_LARGE),
    ]
