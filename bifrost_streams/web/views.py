"""Web views: /status (successor of Heimdall's /api/v1/heimdall/status), /metrics, /health.

/health and /metrics answer without a token (probes and Prometheus); /status needs the read
token when one is set (web/access.py), and shows URLs without their user-info.
"""
from __future__ import annotations

from typing import Any, Dict

from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bifrost_streams import wiring
from bifrost_streams.kafka import transport
from bifrost_streams.app import app, bootstrap, settings
from bifrost_streams.safe_messages import shown_url
from tables import dead_letters
from tables.alerts import store as alert_store
from tables.jobs import jobs
from tables.results import results


def _consumer_state() -> Dict[str, Any]:
    consumer = app.consumer
    assignment = sorted((tp.topic, tp.partition) for tp in consumer.assignment())
    return {
        "running": not consumer.should_stop and consumer.state == "running",
        "state": consumer.state,
        "group_id": settings.app_id,
        "processing_guarantee": settings.processing_guarantee,
        "assignment": [f"{topic}/{partition}" for topic, partition in assignment],
        "rebalancing": app.rebalancing,
    }


def status_document() -> Dict[str, Any]:
    return {
        "service": "bifrost-streams",
        "kafka": {"bootstrap_servers": bootstrap, "embedded": settings.broker is None,
                  "partitions": app.conf.topic_partitions,
                  "producer_running": app.producer.state == "running"},
        "topics": {"analysis_request": settings.request_topic,
                   "analysis_result": settings.result_topic, "dlq": settings.dlq_topic,
                   "jobs": settings.jobs_topic},
        "consumer": _consumer_state(),
        "model": {"source": settings.ai_source,
                  "chain": [{"provider": name, "model": wiring.router().providers[name].model}
                            for name in settings.provider_chain],
                  "ollama_url": shown_url(settings.ollama_url),
                  "bedrock_region": settings.bedrock_region,
                  "redaction": "on" if settings.redaction else "local providers: off",
                  "breakers": wiring.router().breaker_states()},
        "persistence": {"enabled": settings.database_url is not None},
        "ingestion": {"topic": settings.ingestion_topic,
                      "levels": sorted(settings.ingest_levels),
                      "kinesis_stream": settings.kinesis_stream_name,
                      "kinesis_shards_read_here": wiring.kinesis_shards()},
        "alerts": {"topic": settings.alert_topic,
                   "slack": settings.slack_webhook_url is not None,
                   "max_per_minute": settings.throttle_max_per_minute,
                   "held_here": len(alert_store.held())},
        "dlq": {"waiting_here": dead_letters.waiting_count()},
        "tables": {"jobs": len(jobs), "result_cache": len(results)},
        # Exactly once: outputs waiting for the transaction that commits their events.
        "outbox": len(transport.outbox),
        # A partition's commit waits for its oldest event in progress (a model call, say).
        "in_progress": app.consumer.in_progress(),
    }


@app.page("/status")
class StatusView(View):
    async def get(self, request: Request) -> Response:
        return self.json(status_document())


@app.page("/metrics")
class MetricsView(View):
    async def get(self, request: Request) -> Response:
        # aiohttp refuses a charset inside content_type, and Prometheus' type carries one.
        return self.bytes(generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


@app.page("/health")
class HealthView(View):
    """200 while the worker consumes; 503 while it starts, rebalances or stops."""

    async def get(self, request: Request) -> Response:
        consumer = _consumer_state()
        healthy = consumer["running"] and not consumer["rebalancing"]
        return self.json({"healthy": healthy, "consumer": consumer["state"]},
                         status=200 if healthy else 503)
