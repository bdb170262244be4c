"""The one Faust application. Everything else imports `app` and `settings` from here.

    faust -A bifrost_streams.app worker -l info     (or the console script bifrost-worker)

Importing this module reads the settings (Faust declares its topics and tables from them
when their modules are imported) and starts nothing. The worker, once started, configures
logging (worker_init), starts the embedded broker when no broker is configured and creates
the topics (on_first_start).

Where things are: a request enters in agents/intake.py, is analysed in agents/analysis.py
(the model is called through bifrost_streams/providers/router.py) and the result leaves
through bifrost_streams/outcomes.py; agents/persist.py stores it in PostgreSQL.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import faust
import structlog
from mode.utils.objects import cached_property

from . import config, structured_logging, web_address
from .kafka import embedded, transport
from .redaction import compile_rules
from .safe_messages import shown_url
from .kafka.topics import DEFAULT_PARTITIONS, create_missing, decide_partitions, existing_partitions
from .web import access


def _load_settings() -> config.Settings:
    try:
        return config.load()
    except config.ConfigError as exc:
        print(f"bifrost-streams: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


settings = _load_settings()
# The built-in secret kinds plus BIFROST_REDACTION_PATTERNS, for prompts and log lines alike.
redaction_rules = compile_rules(settings.redaction_patterns.items())
log = structlog.get_logger("bifrost.app")
# Without KAFKA_BOOTSTRAP_SERVERS, the embedded broker's address; the worker starts it.
bootstrap = settings.broker or embedded.address()
exactly_once = settings.processing_guarantee == "exactly_once"
EXACTLY_ONCE_COMMIT_INTERVAL = 0.5  # seconds


class BifrostApp(faust.App):
    def worker_init(self) -> None:
        # Before the worker logs anything: JSON lines, secrets redacted.
        structured_logging.configure(settings.log_level, redaction_rules)
        super().worker_init()

    def _new_transport(self) -> transport.Transport:
        # Faust's Kafka transport with our commit rules (kafka/transport.py).
        return transport.Transport(self.conf.broker_consumer, self)

    @cached_property
    def flow_control(self) -> transport.FlowControl:
        # Resuming keeps what the streams' queues hold (kafka/transport.py says why).
        return transport.FlowControl(loop=self.loop)

    async def on_first_start(self) -> None:
        # Faust creates only the last level of its data directory; a worker started in an
        # empty directory has none of the levels of .bifrost/data.
        Path(self.conf.datadir).mkdir(parents=True, exist_ok=True)
        _note_versions_and_defaults()
        if not settings.broker:
            await asyncio.to_thread(embedded.ensure_running, settings.data_dir)
        await super().on_first_start()
        self._settle_web_address()
        await self._match_topic_partitions()

    def _settle_web_address(self) -> None:
        """After Faust's worker flags are applied, before the group hears this URL."""
        advertised = web_address.advertised_url(str(self.conf.canonical_url),
                                                settings.advertised_url)
        if advertised != str(self.conf.canonical_url).rstrip("/"):
            self.conf.canonical_url = advertised
        if not self.conf.web_enabled:
            return
        log.info("web_address", bind=self.conf.web_bind, port=self.conf.web_port,
                 advertised=shown_url(str(self.conf.canonical_url)),
                 read_token=settings.read_token is not None)
        if settings.read_token is None and not web_address.is_loopback(self.conf.web_bind):
            log.warning("web_views_open", bind=self.conf.web_bind,
                        note="the web views answer anyone who reaches this address: set "
                             "BIFROST_READ_TOKEN, or bind 127.0.0.1 behind a proxy")

    def on_webserver_init(self, web) -> None:
        super().on_webserver_init(web)
        # Every route, Faust's included, passes the read-token check (web/access.py).
        web.web_app.middlewares.append(access.middleware(settings.read_token,
                                                         settings.admin_token))
        log.info("web_routes", paths=sorted({route.resource.canonical
                                             for route in web.web_app.router.routes()}))

    async def _match_topic_partitions(self) -> None:
        """Runs before Faust declares its topics, so they are created with the right count."""
        internal = [settings.jobs_topic] + [t.changelog_topic.get_topic_name()
                                            for t in self.tables.values()]
        external = [settings.request_topic, settings.result_topic, settings.dlq_topic]
        # Ingestion: agents/ingestion.py always reads it, whoever writes it.
        external.append(settings.ingestion_topic)
        # Alerts: outcomes.py writes it, agents/alerts.py reads it.
        external.append(settings.alert_topic)
        existing = await existing_partitions(bootstrap, external + internal)
        try:
            count = decide_partitions(settings.partitions, settings.request_topic, internal,
                                      existing)
        except Exception as exc:
            log.error("topic_partitions_refused", error=str(exc))
            print(f"bifrost-streams: refusing to start: {exc}", file=sys.stderr)
            raise
        self.conf.topic_partitions = count
        created = await create_missing(
            bootstrap, {name: count for name in external if name not in existing},
            settings.replication_factor)
        log.info("topics_ready", partitions=count, created=created,
                 existing={name: n for name, n in existing.items()})


app = BifrostApp(
    settings.app_id,
    broker=[f"kafka://{address}" for address in bootstrap.split(",")],
    store=settings.table_store,
    # A standby copy of each table partition on another worker: a dead worker's partitions
    # resume at once instead of after a replay of their changelogs. Each worker then also
    # applies the others' table writes (benchmarks/pipeline.py measures the cost).
    table_standby_replicas=settings.standby_replicas,
    datadir=settings.data_dir,
    topic_partitions=settings.partitions or DEFAULT_PARTITIONS,
    topic_replication_factor=settings.replication_factor,
    key_serializer="raw",
    value_serializer="json",
    consumer_auto_offset_reset="earliest",
    # A worker that died is noticed within this time; its partitions then move to the others.
    broker_session_timeout=settings.session_timeout_seconds,
    broker_heartbeat_interval=min(3.0, settings.session_timeout_seconds / 5),
    producer_acks=-1,
    processing_guarantee=settings.processing_guarantee,
    # Exactly once: results are visible when their transaction commits, so commits come
    # more often than Faust's 2.8 s (each costs a few broker round trips per partition).
    broker_commit_interval=EXACTLY_ONCE_COMMIT_INTERVAL if exactly_once else 2.8,
    # Two milliseconds of batching: one produce request carries many messages instead of
    # one syscall and one broker round per message (both share the worker's cores).
    producer_linger=0.002,
    producer_max_request_size=max(1024 * 1024, 2 * settings.max_request_bytes),
    web_enabled=True,
    # Faust's own views are off: /table serves any table's values (jobs and their results,
    # dead letters), /router and the statistics pages the group's layout; none asks for a
    # token.
    web_tables_enabled=False,
    web_router_enabled=False,
    web_stats_enabled=False,
    web_graph_enabled=False,
    web_metrics_enabled=False,
    web_bind=settings.web_host,
    web_port=settings.web_port,
    web_host=settings.web_host,
    canonical_url=settings.web_url,
    # The worker imports these packages at start-up; their modules declare tables, agents
    # and pages on `app`.
    autodiscover=["tables", "agents", "bifrost_streams.web",
                  "bifrost_streams.diagnostics", "bifrost_streams.loop_watch"],
    origin="bifrost_streams.app",
)



def _note_versions_and_defaults() -> None:
    for name, (installed, wanted) in transport.version_mismatches().items():
        log.warning("untested_library_version", library=name, installed=installed,
                    written_for=wanted, note="kafka/transport.py relies on its private members")
    if not settings.broker:
        log.info("embedded_broker", bootstrap=bootstrap,
                 note="KAFKA_BOOTSTRAP_SERVERS is unset: using noida-db for a local start")
    if not settings.database_url:
        log.warning("persistence_off",
                    note="BIFROST_DATABASE_URL is unset: results are not stored in PostgreSQL")


def main() -> None:
    app.main()
