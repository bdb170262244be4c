"""Settings: read once at start-up from the environment and an optional bifrost.yaml.

Every setting has one environment variable and one path in bifrost.yaml (the keys Heimdall's
users already have). The environment wins. A bad value raises ConfigError naming both.
"""
from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, Mapping, Optional

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


def _optional_text(value: Any) -> Optional[str]:
    return None if value in (None, "") else _text(value)


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


def _optional_int_between(low: int, high: int) -> Callable[[Any], Optional[int]]:
    parse = _int_between(low, high)
    return lambda value: None if value in (None, "") else parse(value)


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


def _brokers(value: Any) -> Optional[str]:
    text = _optional_text(value)
    if text is None:
        return None
    urls = []
    for part in text.split(","):
        part = part.strip()
        address = part.split("://", 1)[1] if "://" in part else part
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"must be host:port[,host:port...], got {part!r}")
        urls.append(address)
    return ",".join(urls)


def _postgres_url(value: Any) -> Optional[str]:
    text = _optional_text(value)
    if text is not None and not re.match(r"^postgres(ql)?://", text):
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


def _admin_token(value: Any) -> Optional[str]:
    if value in (None, ""):
        return None
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


def _stream_name(value: Any) -> Optional[str]:
    text = _optional_text(value)
    if text is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", text):
        raise ValueError(f"must be a Kinesis stream name ([A-Za-z0-9_.-], at most 128), "
                         f"got {text!r}")
    return text


def _region(value: Any) -> Optional[str]:
    text = _optional_text(value)
    if text is not None and not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d{1,2}", text):
        raise ValueError(f"must be an AWS region such as ap-northeast-2, got {text!r}")
    return text


def _secret(value: Any) -> Optional[str]:
    # The value is never echoed: this message may reach a log.
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        raise ValueError("must be a non-empty string without whitespace")
    return value


# Alerts


def _webhook_url(value: Any) -> Optional[str]:
    """An http(s) URL, never echoed in an error: the webhook URL is the credential itself."""
    text = _optional_text(value)
    if text is not None and not re.match(r"^https?://[^/\s]+(/\S*)?$", text):
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
    env: str
    yaml_path: str
    parse: Callable[[Any], Any]
    default: Any


# name -> where it comes from. Defaults are strings where a user would type them.
OPTIONS: Mapping[str, Option] = {
    "broker": Option("KAFKA_BOOTSTRAP_SERVERS", "kafka.bootstrap_servers", _brokers, None),
    "request_topic": Option("BIFROST_REQUEST_TOPIC", "kafka.topics.analysis_request", _topic,
                            "analysis.request"),
    "result_topic": Option("BIFROST_RESULT_TOPIC", "kafka.topics.analysis_result", _topic,
                           "analysis.result"),
    "dlq_topic": Option("BIFROST_DLQ_TOPIC", "kafka.topics.dlq", _topic, "dlq.failed"),
    "app_id": Option("BIFROST_APP_ID", "kafka.consumer.group_id", _topic, "bifrost-streams"),
    "partitions": Option("BIFROST_PARTITIONS", "kafka.partitions",
                         _optional_int_between(1, 1024), None),
    "replication_factor": Option("BIFROST_REPLICATION_FACTOR", "kafka.replication_factor",
                                 _int_between(1, 16), 1),
    "database_url": Option("BIFROST_DATABASE_URL", "database.url", _postgres_url, None),
    "heimdall_database_url": Option("HEIMDALL_DATABASE_URL", "heimdall.database_url",
                                    _postgres_url, None),
    "ai_source": Option("BIFROST_AI_SOURCE", "heimdall.ai_source", _one_of(*SOURCE_PROVIDERS),
                        "local"),
    "ollama_url": Option("BIFROST_OLLAMA_URL", "ollama.url", _http_url,
                         "http://localhost:11434"),
    "fallback": Option("BIFROST_FALLBACK", "model.fallback", _fallback, "rules"),
    "bedrock_model": Option("BIFROST_BEDROCK_MODEL", "bedrock.model", _text,
                            "anthropic.claude-3-sonnet-20240229-v1:0"),
    "bedrock_region": Option("BIFROST_BEDROCK_REGION", "bedrock.region", _text, "us-east-1"),
    "bedrock_endpoint_url": Option("BIFROST_BEDROCK_ENDPOINT_URL", "bedrock.endpoint_url",
                                   lambda v: None if v in (None, "") else _http_url(v), None),
    "bedrock_timeout": Option("BIFROST_BEDROCK_TIMEOUT", "bedrock.timeout", _seconds, 120),
    "redaction": Option("BIFROST_REDACTION", "redaction.enabled", _on_off, "on"),
    "breaker_open_seconds": Option("BIFROST_BREAKER_OPEN_SECONDS", "model.breaker_open_seconds",
                                   _seconds_between(1, 3600), 60),
    "language": Option("BIFROST_LANGUAGE", "model.language", _one_of("en", "ko"), "en"),
    "ollama_model": Option("BIFROST_OLLAMA_MODEL", "ollama.model", _text, "mistral"),
    "ollama_timeout": Option("BIFROST_OLLAMA_TIMEOUT", "ollama.timeout", _seconds, 120),
    # Only this machine reaches the views unless told otherwise (the container image sets
    # 0.0.0.0, where the network is the container's own).
    "web_host": Option("BIFROST_WEB_HOST", "web.host", _text, "127.0.0.1"),
    "web_port": Option("BIFROST_WEB_PORT", "web.port", _int_between(1, 65535), 6066),
    "data_dir": Option("BIFROST_DATA_DIR", "data_dir", _text, ".bifrost/data"),
    "table_store": Option("BIFROST_TABLE_STORE", "tables.store", _store, "rocksdb://"),
    "standby_replicas": Option("BIFROST_STANDBY_REPLICAS", "tables.standby_replicas",
                               _int_between(0, 8), 1),
    "max_request_bytes": Option("BIFROST_MAX_REQUEST_BYTES", "limits.max_request_bytes",
                                _int_between(1024, 64 * 1024 * 1024), 1024 * 1024),
    "concurrency": Option("BIFROST_CONCURRENCY", "processing.concurrency",
                          _int_between(1, 1024), 64),
    "processing_guarantee": Option("BIFROST_PROCESSING_GUARANTEE", "processing.guarantee",
                                   _one_of("at_least_once", "exactly_once"), "at_least_once"),
    "cache_ttl_seconds": Option("BIFROST_CACHE_TTL_SECONDS", "cache.ttl_seconds", _seconds,
                                86400),
    "job_retention_seconds": Option("BIFROST_JOB_RETENTION_SECONDS", "jobs.retention_seconds",
                                    _seconds, 7 * 86400),
    "log_fetch_attempts": Option("BIFROST_LOG_FETCH_ATTEMPTS", "heimdall.retry_attempts",
                                 _int_between(1, 20), 6),
    "session_timeout_seconds": Option("BIFROST_SESSION_TIMEOUT_SECONDS",
                                      "kafka.consumer.session_timeout_seconds",
                                      _seconds_between(6, 300), 30),
    "redaction_patterns": Option("BIFROST_REDACTION_PATTERNS", "redaction.patterns", _patterns,
                                 ""),
    "log_level": Option("BIFROST_LOG_LEVEL", "log_level",
                        _one_of("debug", "info", "warning", "error"), "info"),
    # Operations
    "admin_token": Option("BIFROST_ADMIN_TOKEN", "web.admin_token", _admin_token, None),
    "redrive_max_attempts": Option("BIFROST_REDRIVE_MAX_ATTEMPTS", "dlq.max_redrives",
                                   _int_between(1, 100), 3),
    "redrive_per_minute": Option("BIFROST_REDRIVE_PER_MINUTE", "dlq.redrives_per_minute",
                                 _int_between(1, 100000), 60),
    "job_timeout_seconds": Option("BIFROST_JOB_TIMEOUT_SECONDS", "jobs.timeout_seconds",
                                  lambda v: None if v in (None, "") else _seconds(v), None),
    "advertised_url": Option("BIFROST_ADVERTISED_URL", "web.advertised_url",
                             lambda v: None if v in (None, "") else _http_url(v), None),
    # Ingestion
    "ingestion_topic": Option("BIFROST_INGESTION_TOPIC", "kafka.topics.logs_ingestion", _topic,
                              "logs.ingestion"),
    "ingest_levels": Option("BIFROST_INGEST_LEVELS", "ingestion.levels", _levels,
                            "ERROR,WARN,FATAL"),
    "kinesis_stream_name": Option("KINESIS_STREAM_NAME", "kinesis.stream_name", _stream_name,
                                  None),
    "kinesis_endpoint_url": Option("LOCALSTACK_ENDPOINT", "kinesis.endpoint_url",
                                   lambda v: None if v in (None, "") else _http_url(v), None),
    "aws_region": Option("AWS_REGION", "kinesis.region", _region, None),
    "aws_access_key_id": Option("AWS_ACCESS_KEY_ID", "kinesis.aws_access_key_id", _secret,
                                None),
    "aws_secret_access_key": Option("AWS_SECRET_ACCESS_KEY", "kinesis.aws_secret_access_key",
                                    _secret, None),
    # Alerts
    "alert_topic": Option("BIFROST_ALERT_TOPIC", "kafka.topics.notification_alert", _topic,
                          "notification.alert"),
    "slack_webhook_url": Option("SLACK_WEBHOOK_URL", "alerts.slack_webhook_url", _webhook_url,
                                None),
    "throttle_max_per_minute": Option("THROTTLE_MAX_PER_MINUTE",
                                      "alerts.throttle_max_per_minute", _int_between(1, 1000), 5),
    "alert_window_seconds": Option("BIFROST_ALERT_WINDOW_SECONDS", "alerts.window_seconds",
                                   _seconds_between(1, 3600), 60),
    "alert_severities": Option("BIFROST_ALERT_SEVERITIES", "alerts.severities", _severities,
                               "HIGH,CRITICAL"),
    "alert_template_threshold": Option("BIFROST_ALERT_TEMPLATE_THRESHOLD",
                                       "alerts.template_threshold", _int_between(0, 10**9), 50),
    "public_url": Option("BIFROST_PUBLIC_URL", "web.public_url",
                         lambda v: None if v in (None, "") else _http_url(v), None),
    # Untrusted input: bounds on work, state and cost per event
    "max_analysed_chars": Option("BIFROST_MAX_ANALYSED_CHARS", "limits.max_analysed_chars",
                                 _int_between(1024, 1024 * 1024), 32 * 1024),
    "read_token": Option("BIFROST_READ_TOKEN", "web.read_token", _admin_token, None),
    "dlq_retention_seconds": Option("BIFROST_DLQ_RETENTION_SECONDS", "dlq.retention_seconds",
                                    _seconds, 7 * 86400),
    "dlq_max_entries": Option("BIFROST_DLQ_MAX_ENTRIES", "dlq.max_entries",
                              _int_between(10, 10**7), 10000),
    "max_templates_per_service": Option("BIFROST_MAX_TEMPLATES_PER_SERVICE",
                                        "mining.max_templates_per_service",
                                        _int_between(10, 10**6), 5000),
    "max_templates": Option("BIFROST_MAX_TEMPLATES", "mining.max_templates",
                            _int_between(100, 10**7), 100_000),
    "max_services": Option("BIFROST_MAX_SERVICES", "mining.max_services",
                           _int_between(1, 10**5), 500),
    "model_budget_per_minute": Option("BIFROST_MODEL_BUDGET_PER_MINUTE",
                                      "model.budget_per_minute", _int_between(0, 10**6), 120),
    "allowed_models": Option("BIFROST_ALLOWED_MODELS", "model.allowed_models", _names, ""),
}


@dataclass(frozen=True)
class Settings:
    broker: Optional[str]
    request_topic: str
    result_topic: str
    dlq_topic: str
    app_id: str
    partitions: Optional[int]
    replication_factor: int
    database_url: Optional[str]
    heimdall_database_url: Optional[str]
    ai_source: str
    ollama_url: str
    fallback: tuple
    bedrock_model: str
    bedrock_region: str
    bedrock_endpoint_url: Optional[str]
    bedrock_timeout: float
    redaction: bool
    language: str
    breaker_open_seconds: float
    ollama_model: str
    ollama_timeout: float
    web_host: str
    web_port: int
    data_dir: str
    table_store: str
    standby_replicas: int
    max_request_bytes: int
    concurrency: int
    processing_guarantee: str
    cache_ttl_seconds: float
    job_retention_seconds: float
    log_fetch_attempts: int
    session_timeout_seconds: float
    redaction_patterns: Dict[str, str]
    log_level: str
    admin_token: Optional[str] = field(repr=False)
    redrive_max_attempts: int
    redrive_per_minute: int
    job_timeout_seconds: Optional[float]
    advertised_url: Optional[str]
    # Ingestion
    ingestion_topic: str
    ingest_levels: FrozenSet[str]
    kinesis_stream_name: Optional[str]
    kinesis_endpoint_url: Optional[str]
    aws_region: Optional[str]
    # Never printed: a Settings repr may end up in a log line.
    aws_access_key_id: Optional[str] = field(repr=False)
    aws_secret_access_key: Optional[str] = field(repr=False)
    # Alerts
    alert_topic: str
    slack_webhook_url: Optional[str] = field(repr=False)  # a credential: never printed
    throttle_max_per_minute: int
    alert_window_seconds: float
    alert_severities: frozenset
    alert_template_threshold: int  # 0: no template alerts
    public_url: Optional[str]
    max_analysed_chars: int
    read_token: Optional[str] = field(repr=False)
    dlq_retention_seconds: float
    dlq_max_entries: int  # per worker
    max_templates_per_service: int
    max_templates: int  # per worker, all services together
    max_services: int
    model_budget_per_minute: int  # per service; 0: no limit
    allowed_models: FrozenSet[str]  # beyond the configured ones

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
