"""Prometheus metrics, exposed at /metrics. Names are what dashboards and alerts query."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("bifrost_requests_total", "analysis.request messages consumed", ["form"])
RESULTS = Counter("bifrost_results_total", "analysis.result events published", ["status"])
RESULTS_BY_FAMILY = Counter("bifrost_results_by_family_total",
                            "analysed results published, by failure family (a child counted "
                            "as its family)", ["family"])
DLQ_EVENTS = Counter("bifrost_dlq_events_total", "dlq.failed events published", ["error_code"])
CACHE = Counter("bifrost_cache_lookups_total", "result-cache lookups", ["outcome"])
IDEMPOTENCY_HITS = Counter("bifrost_idempotency_hits_total",
                           "requests answered from the jobs table without new work", ["state"])
MODEL_CALLS = Counter("bifrost_model_calls_total", "calls to a model provider",
                      ["provider", "model", "outcome"])
MODEL_LATENCY = Histogram("bifrost_model_latency_seconds", "model call latency", ["provider"],
                          buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120))
REQUEST_LATENCY = Histogram("bifrost_request_latency_seconds",
                            "request consumed to result published", ["path"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
                                     60))
BREAKER_STATE = Gauge("bifrost_breaker_state",
                      "circuit breaker per provider: 0 closed, 1 half-open, 2 open", ["provider"])
IN_FLIGHT = Gauge("bifrost_in_flight_requests", "requests being analysed right now")
LOG_FETCH = Counter("bifrost_log_fetch_total", "reads of Heimdall's log_entries", ["outcome"])
PERSISTED = Counter("bifrost_persisted_results_total", "results written to PostgreSQL",
                    ["outcome"])
REDRIVES = Counter("bifrost_redrives_total", "dead letters redriven or refused, by outcome",
                   ["outcome"])
MODEL_BUDGET_REFUSED = Counter(
    "bifrost_model_budget_refused_total",
    "model calls refused by the service's BIFROST_MODEL_BUDGET_PER_MINUTE, by what answered "
    "instead: rules (the rules provider) or failed", ["outcome"])
# Ingestion
INGESTED = Counter("bifrost_ingested_entries_total",
                   "log entries read from logs.ingestion: kept (a request) or filtered by level",
                   ["outcome"])
KINESIS_RECORDS = Counter("bifrost_kinesis_records_total",
                          "Kinesis records forwarded to logs.ingestion and checkpointed")
KINESIS_BEHIND = Gauge("bifrost_kinesis_millis_behind_latest",
                       "how far this worker's read of a shard is behind its tip", ["shard"])
# Alerts
ALERTS = Counter("bifrost_alerts_total",
                 "alerts by fate: sent alone, held by the throttle, digested (sent inside a "
                 "digest), logged (no webhook), failed (refused by Slack), duplicate",
                 ["outcome"])
ALERTS_HELD = Gauge("bifrost_alerts_held", "alerts waiting for the throttle's window to open")
SLACK_REQUESTS = Counter("bifrost_slack_requests_total", "POSTs to the Slack webhook by answer",
                         ["status"])
# The event loop (bifrost_streams/loop_lag.py)
EVENT_LOOP_LAG = Gauge("bifrost_event_loop_lag_seconds",
                       "how late the event loop's last 100 ms wake-up came")
EVENT_LOOP_LAGS = Histogram("bifrost_event_loop_lag_distribution_seconds",
                            "how late the event loop's wake-ups came",
                            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                                     10, 30))
