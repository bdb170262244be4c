"""Settings: read once at start-up from the environment and an optional bifrost.yaml.

Every setting has one environment variable and one path in bifrost.yaml (the keys Heimdall's
users already have). The environment wins. A bad value raises ConfigError naming both.
"""
from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, Optional, TypeVar

import yaml

from .safe_messages import shown_url
from .severity import SEVERITIES


class ConfigError(ValueError):
    """A setting has a value the service cannot run with."""


def _text(value: Any) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ValueError(f"must be a string, got {value!r}")
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


_T = TypeVar("_T")


def _optional(parse: Callable[[Any], _T]) -> Callable[[Any], Optional[_T]]:
    """parse, where an empty or missing value means unset (None)."""
    def parse_optional(value: Any) -> Optional[_T]:
        return None if value in (None, "") else parse(value)
    return parse_optional


def _number_between(convert: Callable[[str], Any], what: str, unit: str, low: Any,
                    high: Any) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        try:
            if isinstance(value, bool):
                raise ValueError
            number = convert(str(value).strip())
        except ValueError:
            raise ValueError(f"must be {what}, got {value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low:g} and {high:g}{unit}, got {number:g}")
        return number
    return parse


def _int_between(low: int, high: int) -> Callable[[Any], int]:
    return _number_between(int, "an integer", "", low, high)


def _seconds_between(low: float, high: float) -> Callable[[Any], float]:
    return _number_between(float, "a number of seconds", " seconds", low, high)


_seconds = _seconds_between(0.001, 365 * 86400)


def _one_of(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = _text(value).lower()
        if text not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return text
    return parse


_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def _topic(value: Any) -> str:
    text = _text(value)
    if not _TOPIC.match(text):
        raise ValueError(f"must be a Kafka topic name ([A-Za-z0-9._-], at most 249), got {text!r}")
    return text


def _brokers(value: Any) -> str:
    urls = []
    for part in _text(value).split(","):
        part = part.strip()
        address = part.split("://", 1)[1] if "://" in part else part
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"must be host:port[,host:port...], got {part!r}")
        urls.append(address)
    return ",".join(urls)


def _postgres_url(value: Any) -> str:
    text = _text(value)
    if not re.match(r"^postgres(ql)?://", text):
        raise ValueError("must be a postgresql:// URL")
    return text


def _http_url(value: Any) -> str:
    text = _text(value).rstrip("/")
    if not re.match(r"^https?://[^/\s]+", text):
        # A URL's user-info is a credential: the message shows the rest only.
        raise ValueError(f"must be an http(s):// URL, got {shown_url(text)!r}")
    return text


def _patterns(value: Any) -> Dict[str, str]:
    """kind -> regex, from a YAML mapping or a JSON object in the environment."""
    from .redaction import compile_user_pattern  # the engine the rules will run on
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            raise ValueError('must be a JSON object {"kind": "regex", ...}') from None
    if not isinstance(value, Mapping):
        raise ValueError("must map a kind to a regular expression")
    for kind, pattern in value.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", str(kind)):
            raise ValueError(f"kind {kind!r} must be lower_snake_case")
        try:
            compile_user_pattern(str(pattern))
        except (re.error, ValueError) as exc:
            raise ValueError(f"pattern for {kind!r} is not a valid regex: {exc}") from None
    return {str(k): str(v) for k, v in value.items()}


def _rules_file(value: Any) -> str:
    """A file of extra rules-provider signatures, read and checked here so that a bad one
    stops the start-up."""
    from .providers.rules import load_file
    path = _text(value)
    try:
        load_file(path)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return path


PROVIDER_NAMES = ("ollama", "bedrock", "rules")
# A model source (BIFROST_AI_SOURCE, a request's model_policy.source) -> its provider.
SOURCE_PROVIDERS = {"local": "ollama", "cloud": "bedrock"}


def _fallback(value: Any) -> tuple:
    """The providers tried, in order, after the AI source's own: 'bedrock,rules', or 'none'."""
    text = _text(value).lower()
    if text == "none":
        return ()
    names = tuple(part.strip() for part in text.split(","))
    for name in names:
        if name not in PROVIDER_NAMES:
            raise ValueError(f"must list providers from {', '.join(PROVIDER_NAMES)} "
                             f"(or be 'none'), got {name!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"names a provider twice: {text!r}")
    return names


def _on_off(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text not in ("on", "off", "true", "false"):
        raise ValueError(f"must be on or off, got {value!r}")
    return text in ("on", "true")


def _token(value: Any) -> str:
    token = _text(value)
    # A guessable token on a view that re-publishes jobs is no protection.
    if len(token) < 16:
        raise ValueError(f"must be at least 16 characters, got {len(token)}")
    return token


def _names(value: Any) -> FrozenSet[str]:
    """'a,b' (or a YAML list) -> a set of names; empty for none."""
    if value in (None, ""):
        return frozenset()
    parts = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return frozenset(_text(part) for part in parts if str(part).strip())


def _store(value: Any) -> str:
    text = _text(value)
    if text not in ("rocksdb://", "memory://"):
        raise ValueError(f"must be rocksdb:// or memory://, got {text!r}")
    return text


# The severities a log line can carry, with the spellings that mean the same one.
LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
LEVEL_SYNONYMS = {"WARNING": "WARN", "ERR": "ERROR", "SEVERE": "ERROR", "CRITICAL": "FATAL",
                  "CRIT": "FATAL", "PANIC": "FATAL", "EMERG": "FATAL", "ALERT": "FATAL",
                  "NOTICE": "INFO", "INFORMATION": "INFO", "FINE": "DEBUG", "FINEST": "TRACE"}


def _levels(value: Any) -> FrozenSet[str]:
    """'ERROR,WARN,FATAL' (or a YAML list) -> the canonical level names kept."""
    parts = value if isinstance(value, (list, tuple)) else _text(value).split(",")
    levels = set()
    for part in parts:
        name = _text(part).upper()
        name = LEVEL_SYNONYMS.get(name, name)
        if name not in LEVELS:
            raise ValueError(f"must list levels from {', '.join(LEVELS)}, got {part!r}")
        levels.add(name)
    return frozenset(levels)


def _stream_name(value: Any) -> str:
    text = _text(value)
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", text):
        raise ValueError(f"must be a Kinesis stream name ([A-Za-z0-9_.-], at most 128), "
                         f"got {text!r}")
    return text


def _region(value: Any) -> str:
    text = _text(value)
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d{1,2}", text):
        raise ValueError(f"must be an AWS region such as ap-northeast-2, got {text!r}")
    return text


def _secret(value: Any) -> str:
    # The value is never echoed: this message may reach a log.
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        raise ValueError("must be a non-empty string without whitespace")
    return value


# Alerts


def _webhook_url(value: Any) -> str:
    """An http(s) URL, never echoed in an error: the webhook URL is the credential itself."""
    text = _text(value)
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", text):
        raise ValueError("must be an http(s):// URL (the value is a secret and is not shown)")
    return text


def _severities(value: Any) -> frozenset:
    """'HIGH,CRITICAL' (or a YAML list), or 'none' for no severity alerts."""
    parts = value if isinstance(value, (list, tuple)) else _text(value).split(",")
    names = [_text(part).upper() for part in parts]
    if names == ["NONE"]:
        return frozenset()
    for name in names:
        if name not in SEVERITIES:
            raise ValueError(f"must list severities from {', '.join(SEVERITIES)} "
                             f"(or be 'none'), got {name!r}")
    return frozenset(names)


@dataclass(frozen=True)
class Option:
    """Where a setting comes from, and what the README says of it."""
    env: str
    yaml_path: str
    parse: Callable[[Any], Any]
    default: Any  # as a user would type it; None: unset
    doc: str
    group: str


# The README's configuration tables, in this order; a setting's group is its table.
GROUPS = ("Kafka", "Storage", "Model", "Web", "Processing", "Dead letters", "Limits",
          "Ingestion", "Alerts")


def setting(env: str, yaml_path: str, parse: Callable[[Any], Any], default: Any, doc: str, *,
            group: str, secret: bool = False) -> Any:
    """A Settings field with everything about it. A secret is left out of the repr, which may
    end up in a log line."""
    if group not in GROUPS:
        raise ValueError(f"group {group!r} is not one of {GROUPS}")
    return field(repr=not secret,
                 metadata={"option": Option(env, yaml_path, parse, default, doc, group)})


# Every field is declared by setting() and has no Python default: load() passes each value.
@dataclass(frozen=True)
class Settings:
    broker: Optional[str] = setting(
        "KAFKA_BOOTSTRAP_SERVERS", "kafka.bootstrap_servers", _optional(_brokers), None,
        "Kafka brokers, `host:port[,host:port...]`; unset: the embedded noida-db on "
        "127.0.0.1:9092", group="Kafka")
    request_topic: str = setting(
        "BIFROST_REQUEST_TOPIC", "kafka.topics.analysis_request", _topic, "analysis.request",
        "the topic of the analysis requests", group="Kafka")
    result_topic: str = setting(
        "BIFROST_RESULT_TOPIC", "kafka.topics.analysis_result", _topic, "analysis.result",
        "the topic the results are published to", group="Kafka")
    dlq_topic: str = setting(
        "BIFROST_DLQ_TOPIC", "kafka.topics.dlq", _topic, "dlq.failed",
        "the dead-letter topic: one event per request that failed", group="Kafka")
    app_id: str = setting(
        "BIFROST_APP_ID", "kafka.consumer.group_id", _topic, "bifrost-streams",
        "the consumer group and the prefix of the internal topics", group="Kafka")
    partitions: Optional[int] = setting(
        "BIFROST_PARTITIONS", "kafka.partitions", _optional(_int_between(1, 1024)), None,
        "partitions of the topics the worker creates (1 to 1024); unset: the request topic's "
        "count if it exists, else 3", group="Kafka")
    replication_factor: int = setting(
        "BIFROST_REPLICATION_FACTOR", "kafka.replication_factor", _int_between(1, 16), 1,
        "replicas of each topic the worker creates (1 to 16)", group="Kafka")
    database_url: Optional[str] = setting(
        "BIFROST_DATABASE_URL", "database.url", _optional(_postgres_url), None,
        "PostgreSQL (`postgresql://`) for jobs and results; unset: persistence off, inline "
        "requests only", group="Storage")
    heimdall_database_url: Optional[str] = setting(
        "HEIMDALL_DATABASE_URL", "heimdall.database_url", _optional(_postgres_url), None,
        "the PostgreSQL holding Heimdall's `log_entries`; unset: `BIFROST_DATABASE_URL`",
        group="Storage")
    ai_source: str = setting(
        "BIFROST_AI_SOURCE", "heimdall.ai_source", _one_of(*SOURCE_PROVIDERS), "local",
        "the provider asked first: `local` Ollama, `cloud` Bedrock", group="Model")
    ollama_url: str = setting(
        "BIFROST_OLLAMA_URL", "ollama.url", _http_url, "http://localhost:11434",
        "the Ollama server", group="Model")
    fallback: tuple = setting(
        "BIFROST_FALLBACK", "model.fallback", _fallback, "rules",
        "the providers tried after the source's, in order, e.g. `bedrock,rules`; `none`: no "
        "fallback (no answer is then `MODEL_UNAVAILABLE`). Bedrock is used only if named here "
        "or as the source", group="Model")
    bedrock_model: str = setting(
        "BIFROST_BEDROCK_MODEL", "bedrock.model", _text,
        "anthropic.claude-3-sonnet-20240229-v1:0", "the Bedrock model id", group="Model")
    bedrock_region: str = setting(
        "BIFROST_BEDROCK_REGION", "bedrock.region", _text, "us-east-1",
        "Bedrock's region; credentials: the usual AWS chain (environment, profile, instance "
        "role)", group="Model")
    bedrock_endpoint_url: Optional[str] = setting(
        "BIFROST_BEDROCK_ENDPOINT_URL", "bedrock.endpoint_url", _optional(_http_url), None,
        "a VPC endpoint or a test server; unset: AWS's", group="Model")
    bedrock_timeout: float = setting(
        "BIFROST_BEDROCK_TIMEOUT", "bedrock.timeout", _seconds, 120,
        "seconds a Bedrock call may take", group="Model")
    redaction: bool = setting(
        "BIFROST_REDACTION", "redaction.enabled", _on_off, "on",
        "`off` stops redaction for local models only: the Bedrock provider always redacts what "
        "it sends", group="Model")
    breaker_open_seconds: float = setting(
        "BIFROST_BREAKER_OPEN_SECONDS", "model.breaker_open_seconds", _seconds_between(1, 3600),
        60, "seconds (1 to 3600) an open circuit breaker waits before one trial call",
        group="Model")
    language: str = setting(
        "BIFROST_LANGUAGE", "model.language", _one_of("en", "ko"), "en",
        "`en` or `ko`: the language of summary, root cause and recommendation; part of the "
        "cache key", group="Model")
    ollama_model: str = setting(
        "BIFROST_OLLAMA_MODEL", "ollama.model", _text, "mistral",
        "the Ollama model", group="Model")
    ollama_timeout: float = setting(
        "BIFROST_OLLAMA_TIMEOUT", "ollama.timeout", _seconds, 120,
        "seconds an Ollama call may take", group="Model")
    model_context_tokens: Optional[int] = setting(
        "BIFROST_MODEL_CONTEXT_TOKENS", "model.context_tokens",
        _optional(_int_between(1024, 10**7)), None,
        "the models' context window in tokens, which every prompt is planned to fit (see "
        "`result.prompt`); unset: 2048 for Ollama (its default `num_ctx`), 100000 for Bedrock",
        group="Model")
    # Only this machine reaches the views unless told otherwise (the container image sets
    # 0.0.0.0, where the network is the container's own).
    web_host: str = setting(
        "BIFROST_WEB_HOST", "web.host", _text, "127.0.0.1",
        "the address the views listen on (the container image: `0.0.0.0`); Faust's "
        "`--web-host` and `--web-bind` worker flags win over it", group="Web")
    web_port: int = setting(
        "BIFROST_WEB_PORT", "web.port", _int_between(1, 65535), 6066,
        "the views' port; Faust's `--web-port` worker flag wins over it", group="Web")
    data_dir: str = setting(
        "BIFROST_DATA_DIR", "data_dir", _text, ".bifrost/data",
        "RocksDB tables; created with its parents at start-up, relative to the working "
        "directory", group="Storage")
    table_store: str = setting(
        "BIFROST_TABLE_STORE", "tables.store", _store, "rocksdb://",
        "`rocksdb://`, or `memory://` for tests", group="Storage")
    standby_replicas: int = setting(
        "BIFROST_STANDBY_REPLICAS", "tables.standby_replicas", _int_between(0, 8), 1,
        "copies of each table partition kept up to date on other workers (0 to 8); see Scaling "
        "out", group="Storage")
    max_request_bytes: int = setting(
        "BIFROST_MAX_REQUEST_BYTES", "limits.max_request_bytes",
        _int_between(1024, 64 * 1024 * 1024), 1024 * 1024,
        "a larger request payload is a `dlq.failed` event (1024 to 67108864)", group="Limits")
    concurrency: int = setting(
        "BIFROST_CONCURRENCY", "processing.concurrency", _int_between(1, 1024), 64,
        "jobs run at once while they wait for PostgreSQL or a model (1 to 1024)",
        group="Processing")
    processing_guarantee: str = setting(
        "BIFROST_PROCESSING_GUARANTEE", "processing.guarantee",
        _one_of("at_least_once", "exactly_once"), "at_least_once",
        "`at_least_once`, or `exactly_once`: Kafka transactions; see Delivery guarantees",
        group="Processing")
    cache_ttl_seconds: float = setting(
        "BIFROST_CACHE_TTL_SECONDS", "cache.ttl_seconds", _seconds, 86400,
        "seconds a model answer is reused for the same template, model, prompt version and "
        "language", group="Model")
    job_retention_seconds: float = setting(
        "BIFROST_JOB_RETENTION_SECONDS", "jobs.retention_seconds", _seconds, 7 * 86400,
        "seconds a job (and an alert sent alone) is remembered: a redelivered request "
        "re-publishes its stored result", group="Processing")
    log_fetch_attempts: int = setting(
        "BIFROST_LOG_FETCH_ATTEMPTS", "heimdall.retry_attempts", _int_between(1, 20), 6,
        "reads of a `log_id` in Heimdall's `log_entries`, with back-off, before "
        "`LOG_NOT_FOUND` (Heimdall publishes before its transaction commits)",
        group="Processing")
    session_timeout_seconds: float = setting(
        "BIFROST_SESSION_TIMEOUT_SECONDS", "kafka.consumer.session_timeout_seconds",
        _seconds_between(6, 300), 30,
        "seconds (6 to 300) after which a silent worker's partitions go to the others; see "
        "Scaling out", group="Kafka")
    redaction_patterns: Dict[str, str] = setting(
        "BIFROST_REDACTION_PATTERNS", "redaction.patterns", _patterns, "",
        'extra secret kinds as `{"kind": "regex"}` (JSON in the environment, a mapping in '
        "YAML), applied to prompts and log lines; compiled by RE2 (no back-references or "
        'look-arounds), see "Redaction"', group="Model")
    log_level: str = setting(
        "BIFROST_LOG_LEVEL", "log_level", _one_of("debug", "info", "warning", "error"), "info",
        "`debug`, `info`, `warning` or `error`", group="Processing")
    admin_token: Optional[str] = setting(
        "BIFROST_ADMIN_TOKEN", "web.admin_token", _optional(_token), None,
        "the bearer token (16+ characters) of `POST /dlq/redrive`; it grants read as well; "
        "unset: redrives are off (401)", group="Web", secret=True)
    redrive_max_attempts: int = setting(
        "BIFROST_REDRIVE_MAX_ATTEMPTS", "dlq.max_redrives", _int_between(1, 100), 3,
        "redrives per dead letter (1 to 100)", group="Dead letters")
    redrive_per_minute: int = setting(
        "BIFROST_REDRIVE_PER_MINUTE", "dlq.redrives_per_minute", _int_between(1, 100000), 60,
        "jobs redriven per minute per worker", group="Dead letters")
    job_timeout_seconds: Optional[float] = setting(
        "BIFROST_JOB_TIMEOUT_SECONDS", "jobs.timeout_seconds", _optional(_seconds), None,
        "seconds before a job without `timeout_ms` fails with `TIMEOUT` (one result, one DLQ "
        "event); unset: the providers' timeouts added up, plus 30 s for the log read",
        group="Processing")
    advertised_url: Optional[str] = setting(
        "BIFROST_ADVERTISED_URL", "web.advertised_url", _optional(_http_url), None,
        "where the other workers reach this one's views; it wins over Faust's worker flags; "
        "unset: `http://<web host, or the host name for 0.0.0.0>:<web port>` as the flags set "
        "them", group="Web")
    ingestion_topic: str = setting(
        "BIFROST_INGESTION_TOPIC", "kafka.topics.logs_ingestion", _topic, "logs.ingestion",
        "the topic of log lines to analyse; created by the worker like the other external "
        "topics", group="Ingestion")
    ingest_levels: FrozenSet[str] = setting(
        "BIFROST_INGEST_LEVELS", "ingestion.levels", _levels, "ERROR,WARN,FATAL",
        "the levels analysed (also `WARNING`, `CRITICAL`…; a YAML list works)",
        group="Ingestion")
    kinesis_stream_name: Optional[str] = setting(
        "KINESIS_STREAM_NAME", "kinesis.stream_name", _optional(_stream_name), None,
        "the Kinesis stream read; unset: the Kinesis source is off", group="Ingestion")
    kinesis_endpoint_url: Optional[str] = setting(
        "LOCALSTACK_ENDPOINT", "kinesis.endpoint_url", _optional(_http_url), None,
        "e.g. `http://localhost:4566`; unset: AWS itself", group="Ingestion")
    aws_region: Optional[str] = setting(
        "AWS_REGION", "kinesis.region", _optional(_region), None,
        "the Kinesis region; unset: boto's chain (`AWS_DEFAULT_REGION`, profile)",
        group="Ingestion")
    aws_access_key_id: Optional[str] = setting(
        "AWS_ACCESS_KEY_ID", "kinesis.aws_access_key_id", _optional(_secret), None,
        "set with `AWS_SECRET_ACCESS_KEY` or not at all; unset: boto's chain",
        group="Ingestion", secret=True)
    aws_secret_access_key: Optional[str] = setting(
        "AWS_SECRET_ACCESS_KEY", "kinesis.aws_secret_access_key", _optional(_secret), None,
        "set with `AWS_ACCESS_KEY_ID` or not at all; unset: boto's chain",
        group="Ingestion", secret=True)
    alert_topic: str = setting(
        "BIFROST_ALERT_TOPIC", "kafka.topics.notification_alert", _topic, "notification.alert",
        "the topic of the alerts; created if missing", group="Alerts")
    slack_webhook_url: Optional[str] = setting(
        "SLACK_WEBHOOK_URL", "alerts.slack_webhook_url", _optional(_webhook_url), None,
        "the Slack incoming webhook; unset: alerts are logged and counted only",
        group="Alerts", secret=True)
    throttle_max_per_minute: int = setting(
        "THROTTLE_MAX_PER_MINUTE", "alerts.throttle_max_per_minute", _int_between(1, 1000), 5,
        "messages per webhook per window (1 to 1000)", group="Alerts")
    alert_window_seconds: float = setting(
        "BIFROST_ALERT_WINDOW_SECONDS", "alerts.window_seconds", _seconds_between(1, 3600), 60,
        "the throttle's window in seconds (1 to 3600; tests shorten it)", group="Alerts")
    alert_severities: frozenset = setting(
        "BIFROST_ALERT_SEVERITIES", "alerts.severities", _severities, "HIGH,CRITICAL",
        "the severities that raise an alert; `none`: no severity alerts", group="Alerts")
    alert_template_threshold: int = setting(
        "BIFROST_ALERT_TEMPLATE_THRESHOLD", "alerts.template_threshold", _int_between(0, 10**9),
        50, "occurrences of a template in a minute that raise an alert; `0`: no template alerts",
        group="Alerts")
    public_url: Optional[str] = setting(
        "BIFROST_PUBLIC_URL", "web.public_url", _optional(_http_url), None,
        "where people reach the pages; links in alerts start with it; unset: "
        "`BIFROST_ADVERTISED_URL`, else `http://<web host>:<web port>` (`localhost` for "
        "`0.0.0.0`)", group="Alerts")
    max_analysed_chars: int = setting(
        "BIFROST_MAX_ANALYSED_CHARS", "limits.max_analysed_chars",
        _int_between(1024, 1024 * 1024), 32 * 1024,
        "a longer log text is cut to its head and tail before redaction and mining (1024 to "
        '1048576); see "How a request flows"', group="Limits")
    read_token: Optional[str] = setting(
        "BIFROST_READ_TOKEN", "web.read_token", _optional(_token), None,
        "a bearer token (16+ characters) every view but `/health` and `/metrics` then needs (or "
        "the admin token); unset: the views are open, see Security", group="Web", secret=True)
    dlq_retention_seconds: float = setting(
        "BIFROST_DLQ_RETENTION_SECONDS", "dlq.retention_seconds", _seconds, 7 * 86400,
        "seconds a dead letter stays after its last failure", group="Dead letters")
    dlq_max_entries: int = setting(
        "BIFROST_DLQ_MAX_ENTRIES", "dlq.max_entries", _int_between(10, 10**7), 10000,
        "dead letters per worker (its partitions); beyond, the least recently failed leave, a "
        "tenth of the cap at once", group="Dead letters")
    max_templates_per_service: int = setting(
        "BIFROST_MAX_TEMPLATES_PER_SERVICE", "mining.max_templates_per_service",
        _int_between(10, 10**6), 5000,
        "templates per service; beyond, the service's least recently used template leaves (see "
        "Bounded state)", group="Limits")
    max_templates: int = setting(
        "BIFROST_MAX_TEMPLATES", "mining.max_templates", _int_between(100, 10**7), 100_000,
        "templates per worker, all services together", group="Limits")
    max_services: int = setting(
        "BIFROST_MAX_SERVICES", "mining.max_services", _int_between(1, 10**5), 500,
        "services per worker; lines of further services are mined under the service "
        "`_overflow`", group="Limits")
    model_budget_per_minute: int = setting(
        "BIFROST_MODEL_BUDGET_PER_MINUTE", "model.budget_per_minute", _int_between(0, 10**6),
        120, "model calls per service per minute (0: no limit); past it the rules provider "
        "answers, with `result.budget_exceeded: true`", group="Limits")
    rules_file: Optional[str] = setting(
        "BIFROST_RULES_FILE", "model.rules_file", _optional(_rules_file), None,
        "a YAML file of failure signatures for the rules provider, in the form of "
        "`bifrost_streams/providers/signatures.yaml`, tried before the built-in ones (an id "
        "of a built-in replaces it); a bad file stops the start-up; see \"Failure families\"",
        group="Model")
    allowed_models: FrozenSet[str] = setting(
        "BIFROST_ALLOWED_MODELS", "model.allowed_models", _names, "",
        "the models a request's `model_policy.model` may name besides `BIFROST_OLLAMA_MODEL` "
        "and `BIFROST_BEDROCK_MODEL` (always allowed), comma-separated; any other is ignored "
        "and `result.model_policy.ignored` says so", group="Model")

    @property
    def public_base_url(self) -> str:
        """Where people reach this service's pages; links in alerts start with it."""
        if self.public_url:
            return self.public_url
        if self.advertised_url:
            return self.advertised_url
        host = "localhost" if self.web_host in ("0.0.0.0", "::", "") else self.web_host
        return f"http://{host}:{self.web_port}"

    @property
    def log_database_url(self) -> Optional[str]:
        """Heimdall's log_entries live in our database unless told otherwise."""
        return self.heimdall_database_url or self.database_url

    @property
    def first_provider(self) -> str:
        return SOURCE_PROVIDERS[self.ai_source]

    @property
    def provider_chain(self) -> tuple:
        return (self.first_provider,) + self.fallback

    @property
    def web_url(self) -> str:
        """Where the other workers reach this one's views (they route requests by key)."""
        if self.advertised_url:
            return self.advertised_url
        host = socket.gethostname() if self.web_host in ("0.0.0.0", "::") else self.web_host
        return f"http://{host}:{self.web_port}"

    @property
    def jobs_topic(self) -> str:
        """Validated requests, re-keyed by idempotency key (co-partitioned with the jobs table)."""
        return f"{self.app_id}-{self.request_topic}-by-key"


# name -> where it comes from, in declaration order.
OPTIONS: Mapping[str, Option] = {f.name: f.metadata["option"] for f in fields(Settings)}


def _yaml_lookup(document: Mapping[str, Any], path: str) -> Any:
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"BIFROST_CONFIG ({path}): cannot be read: {exc}") from None
    if not isinstance(document, Mapping):
        raise ConfigError(f"BIFROST_CONFIG ({path}): must hold a YAML mapping")
    return document


def load(environ: Optional[Mapping[str, str]] = None) -> Settings:
    """Build Settings from the environment and bifrost.yaml; raise ConfigError on a bad value."""
    env = os.environ if environ is None else environ
    config_path = env.get("BIFROST_CONFIG")
    if config_path:
        document = _read_yaml(Path(config_path))
    elif Path("bifrost.yaml").is_file():
        document = _read_yaml(Path("bifrost.yaml"))
    else:
        document = {}
    if _yaml_lookup(document, "kafka.enabled") is False:
        raise ConfigError("kafka.enabled (bifrost.yaml): bifrost-streams is a Kafka service; "
                          "it cannot run with Kafka disabled")
    values: Dict[str, Any] = {}
    for name, option in OPTIONS.items():
        raw = env.get(option.env)
        source = option.env
        if raw is None:
            raw = _yaml_lookup(document, option.yaml_path)
            source = f"{option.yaml_path} (bifrost.yaml)"
        if raw is None:
            raw = option.default
            source = f"{option.env} (default)"
        try:
            values[name] = option.parse(raw) if raw is not None else None
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    settings = Settings(**values)
    if settings.kinesis_stream_name and \
            (settings.aws_access_key_id is None) != (settings.aws_secret_access_key is None):
        missing = "AWS_SECRET_ACCESS_KEY" if settings.aws_secret_access_key is None \
            else "AWS_ACCESS_KEY_ID"
        raise ConfigError(f"{missing}: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are set "
                          "together or not at all (unset: the AWS credential chain)")
    if settings.first_provider in settings.fallback:
        raise ConfigError(f"BIFROST_FALLBACK: names {settings.first_provider!r}, which "
                          f"BIFROST_AI_SOURCE={settings.ai_source} already puts first")
    return settings


def _shown_default(default: Any) -> str:
    if default is None:
        return "unset"
    if default == "":
        return "none"
    return f"`{default}`" if isinstance(default, str) else str(default)


def markdown_tables() -> Dict[str, str]:
    """group -> the README's table of its settings, in declaration order."""
    rows: Dict[str, List[str]] = {group: [] for group in GROUPS}
    for option in OPTIONS.values():
        cells = (f"`{option.env}`", f"`{option.yaml_path}`", _shown_default(option.default),
                 option.doc.replace("|", "\\|"))
        rows[option.group].append("| " + " | ".join(cells) + " |")
    header = "| variable | bifrost.yaml | default | meaning |\n|---|---|---|---|\n"
    return {group: header + "\n".join(lines) + "\n" for group, lines in rows.items() if lines}


def _main(argv: Optional[List[str]] = None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m bifrost_streams.config",
                                     description="The settings bifrost-streams reads.")
    parser.add_argument("--markdown", action="store_true", required=True,
                        help="print the README's configuration tables, one per group")
    parser.parse_args(argv)
    print("\n".join(f"**{group}**\n\n{table}" for group, table in markdown_tables().items()),
          end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
