"""The alert settings: names from the log pipeline's .env, defaults, and a webhook URL kept
secret."""
from __future__ import annotations

import pytest

from bifrost_streams.config import ConfigError, load

WEBHOOK = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"


def test_alert_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load({})
    assert settings.alert_topic == "notification.alert"
    assert settings.slack_webhook_url is None
    assert settings.throttle_max_per_minute == 5
    assert settings.alert_window_seconds == 60
    assert settings.alert_severities == {"HIGH", "CRITICAL"}
    assert settings.alert_template_threshold == 50
    assert settings.public_base_url == "http://127.0.0.1:6066"  # the default bind


def test_alert_settings_from_the_environment_and_yaml(tmp_path):
    path = tmp_path / "bifrost.yaml"
    path.write_text("alerts:\n  severities: [critical]\n  template_threshold: 0\n"
                    "web:\n  public_url: https://bifrost.example/\n")
    settings = load({"BIFROST_CONFIG": str(path), "SLACK_WEBHOOK_URL": WEBHOOK,
                     "THROTTLE_MAX_PER_MINUTE": "10", "BIFROST_ALERT_WINDOW_SECONDS": "5",
                     "BIFROST_ALERT_TOPIC": "alerts.test"})
    assert settings.slack_webhook_url == WEBHOOK
    assert settings.throttle_max_per_minute == 10 and settings.alert_window_seconds == 5
    assert settings.alert_topic == "alerts.test"
    assert settings.alert_severities == {"CRITICAL"}
    assert settings.alert_template_threshold == 0
    assert settings.public_base_url == "https://bifrost.example"
    assert load({"BIFROST_ALERT_SEVERITIES": "none"}).alert_severities == frozenset()
    assert load({"BIFROST_WEB_HOST": "10.1.2.3", "BIFROST_WEB_PORT": "7000"}
                ).public_base_url == "http://10.1.2.3:7000"


@pytest.mark.parametrize("env, key", [
    ({"THROTTLE_MAX_PER_MINUTE": "0"}, "THROTTLE_MAX_PER_MINUTE"),
    ({"THROTTLE_MAX_PER_MINUTE": "five"}, "THROTTLE_MAX_PER_MINUTE"),
    ({"BIFROST_ALERT_WINDOW_SECONDS": "0"}, "BIFROST_ALERT_WINDOW_SECONDS"),
    ({"BIFROST_ALERT_SEVERITIES": "HIGH,URGENT"}, "BIFROST_ALERT_SEVERITIES"),
    ({"BIFROST_ALERT_TEMPLATE_THRESHOLD": "-1"}, "BIFROST_ALERT_TEMPLATE_THRESHOLD"),
    ({"BIFROST_ALERT_TOPIC": "no spaces"}, "BIFROST_ALERT_TOPIC"),
    ({"BIFROST_PUBLIC_URL": "bifrost.example"}, "BIFROST_PUBLIC_URL"),
    ({"SLACK_WEBHOOK_URL": "hooks.slack.com/services/T000/B000/XXXXSECRET"}, "SLACK_WEBHOOK_URL"),
])
def test_a_bad_alert_setting_names_its_key(env, key):
    with pytest.raises(ConfigError, match=key):
        load(env)


def test_the_webhook_url_is_never_printed():
    with pytest.raises(ConfigError) as raised:
        load({"SLACK_WEBHOOK_URL": "hooks.slack.com/services/T000/B000/XXXXSECRET"})
    assert "XXXXSECRET" not in str(raised.value)
    settings = load({"SLACK_WEBHOOK_URL": WEBHOOK})
    assert "XXXXSECRET" not in repr(settings) and "XXXXSECRET" not in str(settings)
