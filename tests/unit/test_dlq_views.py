"""The redrive view's rules without servers: who may act, what a body may ask, how fast."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from bifrost_streams import config
from bifrost_streams.web import dlq


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_limit_refills_over_the_minute():
    clock = Clock()
    limit = dlq.RateLimit(2, clock)
    assert [limit.take(), limit.take(), limit.take()] == [True, True, False]
    clock.now = 29.0
    assert not limit.take()  # one token takes 30 s at 2 per minute
    clock.now = 30.5
    assert limit.take() and not limit.take()
    clock.now = 1000.0
    assert [limit.take(), limit.take(), limit.take()] == [True, True, False]  # never above 2


def _request(authorization=None):
    headers = {} if authorization is None else {"Authorization": authorization}
    return SimpleNamespace(headers=headers)


def test_only_the_configured_bearer_token_may_redrive(monkeypatch):
    token = "a-long-enough-admin-token"
    monkeypatch.setattr(dlq, "settings", SimpleNamespace(admin_token=None))
    assert "BIFROST_ADMIN_TOKEN is not set" in dlq._unauthorised(_request(f"Bearer {token}"))
    monkeypatch.setattr(dlq, "settings", SimpleNamespace(admin_token=token))
    assert dlq._unauthorised(_request(f"Bearer {token}")) is None
    assert dlq._unauthorised(_request(f"bearer {token}")) is None
    for header in (None, "", "Bearer", f"Basic {token}", "Bearer wrong", f"Bearer {token}x"):
        assert dlq._unauthorised(_request(header)), header


@pytest.mark.parametrize("body, message", [
    (b"{", "must be JSON"),
    (b"[]", "JSON object"),
    (b'{"job_id": "j", "reason": "r"}', "actor is required"),
    (b'{"job_id": "j", "actor": "a"}', "reason is required"),
    (b'{"actor": "a", "reason": "r"}', "exactly one"),
    (b'{"job_id": "j", "error_code": "X", "actor": "a", "reason": "r"}', "exactly one"),
    (b'{"job_ids": [], "actor": "a", "reason": "r"}', "1 to"),
    (b'{"job_ids": [1], "actor": "a", "reason": "r"}', "as strings"),
    (b'{"error_code": "not a code", "actor": "a", "reason": "r"}', "error code"),
])
def test_a_bad_redrive_body_is_refused_with_a_reason(body, message):
    with pytest.raises(dlq.BadRequest, match=message):
        dlq._parse(body)


def test_a_redrive_body_names_its_jobs_once():
    selector, actor, reason = dlq._parse(json.dumps(
        {"job_ids": ["a", "b", "a"], "actor": " ops ", "reason": "restored"}).encode())
    assert selector == {"job_ids": ["a", "b"]} and (actor, reason) == ("ops", "restored")
    assert dlq._parse(b'{"error_code": "LOG_NOT_FOUND", "actor": "a", "reason": "r"}')[0] == {
        "error_code": "LOG_NOT_FOUND"}


def test_a_short_admin_token_stops_start_up():
    with pytest.raises(config.ConfigError, match="BIFROST_ADMIN_TOKEN: must be at least 16"):
        config.load({"BIFROST_ADMIN_TOKEN": "short"})
    assert config.load({"BIFROST_ADMIN_TOKEN": "x" * 16}).admin_token == "x" * 16
    assert config.load({}).admin_token is None


def test_the_advertised_url_defaults_to_the_web_address():
    assert config.load({"BIFROST_WEB_HOST": "127.0.0.1",
                        "BIFROST_WEB_PORT": "7000"}).web_url == "http://127.0.0.1:7000"
    assert config.load({"BIFROST_ADVERTISED_URL": "http://worker-1:6066/"}).web_url == \
        "http://worker-1:6066"
    with pytest.raises(config.ConfigError, match="BIFROST_ADVERTISED_URL"):
        config.load({"BIFROST_ADVERTISED_URL": "worker-1:6066"})
