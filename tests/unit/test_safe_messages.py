"""No credential, host or user name in what the worker shows of a URL or a failure."""
from __future__ import annotations

import dataclasses
import json

import psycopg2
import pytest

from bifrost_streams import codes
from bifrost_streams.codes import JobFailed
from bifrost_streams.safe_messages import database_failure, failure_kind, shown_url
from bifrost_streams.storage import logs
from bifrost_streams.web import views
from tests.support.services import free_port


@pytest.mark.parametrize("url, shown", [
    ("http://user:secret@ollama.internal:11434/api?key=k#f", "http://ollama.internal:11434/api"),
    ("https://:tok@ollama.example", "https://ollama.example"),
    ("postgresql://app:pa/ss@db.internal:5432/heimdall?sslmode=require",
     "postgresql://db.internal:5432/heimdall"),
    ("http://[::1]:4566/", "http://[::1]:4566/"),
    ("http://localhost:11434", "http://localhost:11434"),
    ("amqp://u:pa/ss@mq.internal:5672/vhost", "amqp://mq.internal:5672/vhost"),
    ("http://u:p?x#y@ollama.internal", "http://ollama.internal"),
    ("redis://:pw@cache:6379", "redis://cache:6379"),
    ("http://h:notaport/", "http://h:notaport/"),
    ("ollama.internal:11434", "ollama.internal:11434"),
    (None, None),
])
def test_a_shown_url_keeps_no_user_info_or_query(url, shown):
    assert shown_url(url) == shown


def test_a_failure_is_named_by_its_kind_and_sqlstate():
    error = psycopg2.OperationalError('connection to server at "db.internal" (10.0.0.5), '
                                      'port 5432 failed: FATAL: password authentication '
                                      'failed for user "app"')
    assert failure_kind(error) == "OperationalError"
    assert database_failure("the log database", error) == \
        "the log database could not be reached (OperationalError)"
    assert database_failure("PostgreSQL", TimeoutError()) == \
        "PostgreSQL could not be reached (TimeoutError)"

    class Refused(psycopg2.ProgrammingError):
        pgcode = "42P01"
    assert database_failure("PostgreSQL", Refused("relation x does not exist")) == \
        "PostgreSQL refused the query (Refused, SQLSTATE 42P01)"


async def test_a_failed_log_fetch_names_neither_host_nor_user():
    # Nothing listens on the port: libpq's message names the host and the user.
    dsn = f"postgresql://leaky_user:leaky_password@127.0.0.1:{free_port()}/heimdall"
    with pytest.raises(psycopg2.OperationalError, match="127.0.0.1"):
        psycopg2.connect(dsn, connect_timeout=5)
    with pytest.raises(JobFailed) as failure:
        await logs.fetch_log(dsn, 1, attempts=1)
    assert failure.value.code == codes.LOG_SOURCE_UNAVAILABLE
    message = failure.value.message
    assert message.startswith("the log database could not be reached (OperationalError)")
    for leak in ("127.0.0.1", "leaky_user", "leaky_password", "heimdall"):
        assert leak not in message


def test_status_shows_the_ollama_url_without_user_info(monkeypatch):
    monkeypatch.setattr(views, "settings", dataclasses.replace(
        views.settings, ollama_url="http://bob:hunter2@ollama.internal:11434?key=k"))
    # Not started here: the consumer's parts are stubbed, the rest is the real document.
    monkeypatch.setattr(views, "_consumer_state", lambda: {})
    monkeypatch.setattr(views.app.consumer, "in_progress", lambda: {}, raising=False)
    document = views.status_document()
    assert document["model"]["ollama_url"] == "http://ollama.internal:11434"
    text = json.dumps(document)
    assert "bob" not in text and "hunter2" not in text and "key=k" not in text


async def test_a_history_view_names_no_host_to_the_caller_or_the_log(monkeypatch):
    from types import SimpleNamespace

    from bifrost_streams.web import history as history_view
    monkeypatch.setattr(history_view, "settings", dataclasses.replace(
        history_view.settings, database_url="postgresql://app:pw@db.internal/bifrost"))
    logged = []
    monkeypatch.setattr(history_view, "log", SimpleNamespace(
        warning=lambda event, **fields: logged.append((event, fields))))

    async def fetch(_dsn, _parsed):
        raise psycopg2.OperationalError('connection to server at "db.internal" (10.0.0.5), '
                                        'port 5432 failed: FATAL: password authentication '
                                        'failed for user "app"')
    view = SimpleNamespace(error=lambda status, message: (status, message),
                           json=lambda document: (200, document))
    request = SimpleNamespace(query={}, path="/analyses")
    status, message = await history_view._answer(view, request, lambda _q: None, fetch)
    assert (status, message) == (503, "PostgreSQL could not be reached (OperationalError)")
    assert logged == [("history_unavailable",
                       {"path": "/analyses", "failure": "OperationalError"})]
