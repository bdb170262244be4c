import dataclasses
from pathlib import Path

import pytest

from bifrost_streams.config import GROUPS, OPTIONS, ConfigError, Settings, load


def test_defaults_without_environment_or_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load({})
    assert settings.broker is None  # the embedded broker is used
    assert settings.request_topic == "analysis.request"
    assert settings.result_topic == "analysis.result"
    assert settings.dlq_topic == "dlq.failed"
    assert settings.web_port == 6066
    assert settings.database_url is None and settings.log_database_url is None
    assert settings.jobs_topic == "bifrost-streams-analysis.request-by-key"
    assert settings.standby_replicas == 1


def test_the_app_keeps_the_configured_standby_replicas():
    from bifrost_streams.app import app, settings
    assert app.conf.table_standby_replicas == settings.standby_replicas == 1
    assert load({"BIFROST_STANDBY_REPLICAS": "0"}).standby_replicas == 0


def test_environment_wins_over_yaml(tmp_path):
    path = tmp_path / "bifrost.yaml"
    path.write_text("kafka:\n  bootstrap_servers: kafka:9092\n  topics:\n"
                    "    analysis_request: heimdall.requests\nollama:\n  model: llama3\n"
                    "web:\n  port: 7000\n")
    settings = load({"BIFROST_CONFIG": str(path), "BIFROST_WEB_PORT": "7100"})
    assert settings.broker == "kafka:9092"
    assert settings.request_topic == "heimdall.requests"
    assert settings.ollama_model == "llama3"
    assert settings.web_port == 7100


def test_heimdall_database_defaults_to_ours():
    settings = load({"BIFROST_DATABASE_URL": "postgresql://u@h/db"})
    assert settings.log_database_url == "postgresql://u@h/db"
    other = load({"BIFROST_DATABASE_URL": "postgresql://u@h/db",
                  "HEIMDALL_DATABASE_URL": "postgresql://u@h/heimdall"})
    assert other.log_database_url == "postgresql://u@h/heimdall"


def test_broker_list_accepts_kafka_scheme():
    assert load({"KAFKA_BOOTSTRAP_SERVERS": "kafka://a:9092, b:9093"}).broker == "a:9092,b:9093"


@pytest.mark.parametrize("env, key", [
    ({"BIFROST_WEB_PORT": "http"}, "BIFROST_WEB_PORT"),
    ({"BIFROST_WEB_PORT": "70000"}, "BIFROST_WEB_PORT"),
    ({"BIFROST_PARTITIONS": "0"}, "BIFROST_PARTITIONS"),
    ({"KAFKA_BOOTSTRAP_SERVERS": "localhost"}, "KAFKA_BOOTSTRAP_SERVERS"),
    ({"BIFROST_DATABASE_URL": "mysql://x"}, "BIFROST_DATABASE_URL"),
    ({"BIFROST_OLLAMA_URL": "ollama:11434"}, "BIFROST_OLLAMA_URL"),
    ({"BIFROST_REQUEST_TOPIC": "bad topic!"}, "BIFROST_REQUEST_TOPIC"),
    ({"BIFROST_AI_SOURCE": "gpu"}, "BIFROST_AI_SOURCE"),
    ({"BIFROST_FALLBACK": "rules,gpt"}, "BIFROST_FALLBACK"),
    ({"BIFROST_FALLBACK": "rules,rules"}, "BIFROST_FALLBACK"),
    ({"BIFROST_AI_SOURCE": "cloud", "BIFROST_FALLBACK": "bedrock,rules"}, "BIFROST_FALLBACK"),
    ({"BIFROST_REDACTION": "maybe"}, "BIFROST_REDACTION"),
    ({"BIFROST_BEDROCK_ENDPOINT_URL": "bedrock.local"}, "BIFROST_BEDROCK_ENDPOINT_URL"),
    ({"BIFROST_SESSION_TIMEOUT_SECONDS": "2"}, "BIFROST_SESSION_TIMEOUT_SECONDS"),
    ({"BIFROST_TABLE_STORE": "redis://"}, "BIFROST_TABLE_STORE"),
    ({"BIFROST_STANDBY_REPLICAS": "-1"}, "BIFROST_STANDBY_REPLICAS"),
    ({"BIFROST_STANDBY_REPLICAS": "one"}, "BIFROST_STANDBY_REPLICAS"),
])
def test_bad_value_names_the_key(env, key):
    with pytest.raises(ConfigError) as error:
        load(env)
    assert str(error.value).startswith(key)


def test_bad_yaml_value_names_the_yaml_path(tmp_path):
    path = tmp_path / "bifrost.yaml"
    path.write_text("web:\n  port: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"^web.port \(bifrost.yaml\)"):
        load({"BIFROST_CONFIG": str(path)})


def test_unreadable_or_disabled_kafka_config_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="BIFROST_CONFIG"):
        load({"BIFROST_CONFIG": str(tmp_path / "missing.yaml")})
    path = Path(tmp_path / "bifrost.yaml")
    path.write_text("kafka:\n  enabled: false\n")
    with pytest.raises(ConfigError, match="kafka.enabled"):
        load({"BIFROST_CONFIG": str(path)})


def test_redaction_patterns_from_environment_or_yaml(tmp_path):
    assert load({}).redaction_patterns == {}
    env = {"BIFROST_REDACTION_PATTERNS": '{"employee_id": "EMP-\\\\d{6}"}'}
    assert load(env).redaction_patterns == {"employee_id": r"EMP-\d{6}"}
    path = tmp_path / "bifrost.yaml"
    path.write_text("redaction:\n  patterns:\n    ticket: 'TCK-[0-9]+'\n")
    assert load({"BIFROST_CONFIG": str(path)}).redaction_patterns == {"ticket": "TCK-[0-9]+"}


@pytest.mark.parametrize("value, fragment", [
    ('{"bad": "("}', "not a valid regex"),
    ('{"Bad Kind": "x"}', "lower_snake_case"),
    ("[1, 2]", "must map a kind"),
    ("{not json", "JSON object"),
])
def test_bad_redaction_patterns_name_the_key(value, fragment):
    with pytest.raises(ConfigError) as error:
        load({"BIFROST_REDACTION_PATTERNS": value})
    assert str(error.value).startswith("BIFROST_REDACTION_PATTERNS")
    assert fragment in str(error.value)


@pytest.mark.parametrize("env, chain", [
    ({}, ("ollama", "rules")),
    ({"BIFROST_FALLBACK": "none"}, ("ollama",)),
    ({"BIFROST_FALLBACK": "bedrock, rules"}, ("ollama", "bedrock", "rules")),
    ({"BIFROST_AI_SOURCE": "cloud"}, ("bedrock", "rules")),
    ({"BIFROST_AI_SOURCE": "cloud", "BIFROST_FALLBACK": "ollama,rules"},
     ("bedrock", "ollama", "rules")),
])
def test_provider_chain_is_the_source_then_the_fallbacks(env, chain):
    assert load(env).provider_chain == chain


def test_bedrock_settings_from_seed_yaml_keys(tmp_path):
    path = tmp_path / "bifrost.yaml"
    path.write_text("bedrock:\n  region: eu-west-1\n  model: anthropic.claude-3-haiku\n"
                    "heimdall:\n  ai_source: cloud\n")
    settings = load({"BIFROST_CONFIG": str(path)})
    assert (settings.bedrock_region, settings.bedrock_model, settings.first_provider) == (
        "eu-west-1", "anthropic.claude-3-haiku", "bedrock")


def test_each_setting_is_declared_once_with_its_sources_and_meaning():
    declared = [f.metadata["option"] for f in dataclasses.fields(Settings)]
    assert list(OPTIONS.values()) == declared
    for option in declared:
        assert option.env and option.yaml_path and option.group in GROUPS
        assert option.doc and "\n" not in option.doc
    assert len({o.env for o in declared}) == len({o.yaml_path for o in declared}) == len(declared)


def test_secrets_stay_out_of_the_repr():
    secrets = {"BIFROST_ADMIN_TOKEN": "admin-token-0123456789", "BIFROST_READ_TOKEN":
               "read-token-0123456789", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE0123",
               "AWS_SECRET_ACCESS_KEY": "secret-access-key-0123",
               "SLACK_WEBHOOK_URL": "https://hooks.slack.test/services/T0/B0/secret0123"}
    shown = repr(load({**secrets, "KINESIS_STREAM_NAME": "logs"}))
    assert not [value for value in secrets.values() if value in shown]


@pytest.mark.parametrize("name", ["broker", "partitions", "database_url", "job_timeout_seconds",
                                  "advertised_url", "public_url", "admin_token", "aws_region",
                                  "slack_webhook_url", "kinesis_endpoint_url"])
def test_an_empty_optional_setting_is_unset(name):
    assert getattr(load({OPTIONS[name].env: ""}), name) is None
