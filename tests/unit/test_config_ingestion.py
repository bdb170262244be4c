"""The ingestion settings: names as the log pipeline's .env has them, validation by key."""
import pytest

from bifrost_streams.config import ConfigError, load


def test_defaults_leave_the_kinesis_source_off(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load({})
    assert settings.kinesis_stream_name is None
    assert settings.ingestion_topic == "logs.ingestion"
    assert settings.ingest_levels == {"ERROR", "WARN", "FATAL"}
    assert settings.kinesis_endpoint_url is None and settings.aws_region is None


def test_seed_004_env_file_values():
    settings = load({"LOCALSTACK_ENDPOINT": "http://localhost:4566/",
                     "AWS_REGION": "ap-northeast-2", "AWS_ACCESS_KEY_ID": "test",
                     "AWS_SECRET_ACCESS_KEY": "test", "KINESIS_STREAM_NAME": "cali-log-stream",
                     "BIFROST_INGEST_LEVELS": "error, warning,critical",
                     "BIFROST_INGESTION_TOPIC": "logs.ingestion.v2"})
    assert settings.kinesis_stream_name == "cali-log-stream"
    assert settings.kinesis_endpoint_url == "http://localhost:4566"
    assert settings.aws_region == "ap-northeast-2"
    assert settings.ingest_levels == {"ERROR", "WARN", "FATAL"}
    assert settings.ingestion_topic == "logs.ingestion.v2"


def test_yaml_keys(tmp_path):
    path = tmp_path / "bifrost.yaml"
    path.write_text("kinesis:\n  stream_name: s1\n  region: eu-west-1\n"
                    "  endpoint_url: http://127.0.0.1:4566\n  aws_access_key_id: AKIDEXAMPLE\n"
                    "  aws_secret_access_key: s3cr3t\ningestion:\n  levels: [FATAL]\n"
                    "kafka:\n  topics:\n    logs_ingestion: raw.logs\n")
    settings = load({"BIFROST_CONFIG": str(path)})
    assert (settings.kinesis_stream_name, settings.aws_region) == ("s1", "eu-west-1")
    assert settings.aws_access_key_id == "AKIDEXAMPLE"
    assert settings.ingest_levels == {"FATAL"} and settings.ingestion_topic == "raw.logs"


def test_credentials_never_show_in_the_settings_repr():
    settings = load({"AWS_ACCESS_KEY_ID": "AKIDSECRETVALUE1", "AWS_SECRET_ACCESS_KEY": "hunter2x"})
    assert "AKIDSECRETVALUE1" not in repr(settings) and "hunter2x" not in repr(settings)


@pytest.mark.parametrize("env, key", [
    ({"KINESIS_STREAM_NAME": "bad name!"}, "KINESIS_STREAM_NAME"),
    ({"LOCALSTACK_ENDPOINT": "localhost:4566"}, "LOCALSTACK_ENDPOINT"),
    ({"AWS_REGION": "Seoul"}, "AWS_REGION"),
    ({"BIFROST_INGEST_LEVELS": "ERROR,LOUD"}, "BIFROST_INGEST_LEVELS"),
    ({"BIFROST_INGEST_LEVELS": ""}, "BIFROST_INGEST_LEVELS"),
    ({"BIFROST_INGESTION_TOPIC": "logs ingestion"}, "BIFROST_INGESTION_TOPIC"),
    ({"AWS_SECRET_ACCESS_KEY": "has space"}, "AWS_SECRET_ACCESS_KEY"),
    ({"KINESIS_STREAM_NAME": "s", "AWS_ACCESS_KEY_ID": "test"}, "AWS_SECRET_ACCESS_KEY"),
    ({"KINESIS_STREAM_NAME": "s", "AWS_SECRET_ACCESS_KEY": "test"}, "AWS_ACCESS_KEY_ID"),
])
def test_bad_values_name_their_key(env, key):
    with pytest.raises(ConfigError, match=f"^{key}"):
        load(env)


def test_a_bad_secret_is_not_echoed():
    with pytest.raises(ConfigError) as caught:
        load({"AWS_SECRET_ACCESS_KEY": "very secret value"})
    assert "very secret" not in str(caught.value)
