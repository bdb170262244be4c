"""Who may read the web views, which routes the worker serves, and where it says it is."""
from __future__ import annotations

import base64
import dataclasses

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bifrost_streams import app as app_module
from bifrost_streams import web_address
from bifrost_streams.web import access, peers

# The tests change the app's web settings after use, as Faust's worker flags do.
pytestmark = pytest.mark.filterwarnings("ignore::faust.exceptions.AlreadyConfiguredWarning")

READ = "read-token-0123456789"
ADMIN = "admin-token-0123456789"


def basic(password: str, user: str = "anyone") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("header, token", [
    (f"Bearer {READ}", READ),
    (f"bearer   {READ}  ", READ),
    (basic(READ), READ),
    (basic(READ, user=""), READ),
    (basic("pa:ss"), "pa:ss"),  # a colon belongs to the password after the first
    ("", None),
    ("Bearer", None),
    ("Bearer   ", None),
    ("Basic !!!not-base64!!!", None),
    ("Basic " + base64.b64encode(b"no-colon").decode(), None),
    ("Basic " + base64.b64encode(b"user:").decode(), None),
    ("Basic " + base64.b64encode(b"u:\xff").decode(), None),  # not UTF-8
    (f"Token {READ}", None),
    ("Bearer " + "x" * access.LONGEST_HEADER, None),
])
def test_the_token_comes_from_bearer_or_basic_auth(header, token):
    assert access.presented_token(header) == token


def test_without_a_read_token_every_view_is_open():
    for path in ("/", "/status", "/jobs/x", "/table/", "/dlq"):
        assert access.refusal(path, "", None, ADMIN) is None


def test_with_a_read_token_only_the_probes_are_open():
    for path in ("/health", "/metrics"):
        assert access.refusal(path, "", READ, ADMIN) is None
    for path in ("/", "/status", "/jobs/x", "/dlq", "/templates", "/analyses", "/table/",
                 "/router/", "/health/", "/metrics/x", "/HEALTH", "/unknown"):
        assert "read token" in access.refusal(path, "", READ, ADMIN), path
        assert access.refusal(path, "Bearer wrong-token-0123456789", READ, ADMIN) == \
            "the token is not valid", path
        assert access.refusal(path, f"Bearer {READ}x", READ, ADMIN), path
        assert access.refusal(path, f"Bearer {READ}", READ, ADMIN) is None
        assert access.refusal(path, basic(READ), READ, ADMIN) is None
        # The admin token grants read as well.
        assert access.refusal(path, f"Bearer {ADMIN}", READ, ADMIN) is None
        assert access.refusal(path, basic(ADMIN), READ, None) is not None


async def _client(read_token, admin_token) -> TestClient:
    async def hello(request):
        return web.json_response({"path": request.path})

    application = web.Application(middlewares=[access.middleware(read_token, admin_token)])
    for path in ("/", "/status", "/health", "/metrics"):
        application.router.add_get(path, hello)
    client = TestClient(TestServer(application))
    await client.start_server()
    return client


async def test_the_middleware_answers_401_with_both_challenges():
    client = await _client(READ, ADMIN)
    try:
        response = await client.get("/")
        assert response.status == 401
        assert sorted(response.headers.getall("WWW-Authenticate")) == [
            'Basic realm="bifrost"', 'Bearer realm="bifrost"']
        assert "read token" in (await response.json())["error"]
        assert (await client.get("/status", headers={"Authorization": basic("nope")})
                ).status == 401
        for headers in ({"Authorization": f"Bearer {READ}"}, {"Authorization": basic(READ)},
                        {"Authorization": f"Bearer {ADMIN}"}):
            response = await client.get("/status", headers=headers)
            assert response.status == 200 and (await response.json()) == {"path": "/status"}
        for path in ("/health", "/metrics"):
            assert (await client.get(path)).status == 200
        # An unknown path is refused before it is looked up: it reveals nothing.
        assert (await client.get("/table/")).status == 401
        assert (await client.get("/table/", headers={"Authorization": f"Bearer {READ}"})
                ).status == 404
    finally:
        await client.close()


async def test_the_middleware_lets_everything_through_without_a_read_token():
    client = await _client(None, ADMIN)
    try:
        assert (await client.get("/status")).status == 200
    finally:
        await client.close()


@pytest.fixture(scope="module")
def served_routes():
    """The worker's routes, as its web server registers them at start-up."""
    app = app_module.app
    app.discover()
    if not app.web.blueprints.applied:
        app.web.init_server()
    return {(route.method, route.resource.canonical) for route in app.web.web_app.router.routes()}


def test_faust_serves_none_of_its_own_views(served_routes):
    paths = {path for _method, path in served_routes}
    assert paths == {"/", "/status", "/metrics", "/health", "/jobs/by-key", "/jobs/{job_id}",
                     "/jobs/{job_id}/prompt", "/dlq", "/dlq/redrive", "/templates",
                     "/analyses", "/analyses/stats"}
    methods = {method for method, _path in served_routes}
    assert methods == {"GET", "HEAD", "POST"}
    assert {path for method, path in served_routes if method == "POST"} == {"/dlq/redrive"}


def test_the_read_check_guards_every_route(served_routes):
    middlewares = list(app_module.app.web.web_app.middlewares)
    assert [m.__name__ for m in middlewares] == ["require_read_token"]
    for _method, path in served_routes:
        refused = access.refusal(path, "", READ, ADMIN)
        assert (refused is None) == (path in ("/health", "/metrics")), path


def test_the_advertised_url_follows_the_flags_unless_set():
    assert web_address.advertised_url("http://127.0.0.1:7001", None) == "http://127.0.0.1:7001"
    assert web_address.advertised_url("http://127.0.0.1:7001/", "http://w1:6066/") == \
        "http://w1:6066"
    url = web_address.advertised_url("http://0.0.0.0:7001", None)
    assert url.endswith(":7001") and "0.0.0.0" not in url
    assert "[::]" not in web_address.advertised_url("http://[::]:7001", None)


@pytest.mark.parametrize("bind, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("", False),
    ("10.0.0.5", False), ("worker-1", False), (None, False)])
def test_loopback_binds(bind, loopback):
    assert web_address.is_loopback(bind) is loopback


class Recorder:
    def __init__(self):
        self.events = []

    def info(self, event, **fields):
        self.events.append(("info", event, fields))

    def warning(self, event, **fields):
        self.events.append(("warning", event, fields))


@pytest.fixture
def web_conf(monkeypatch):
    conf = app_module.app.conf
    saved = (conf.canonical_url, conf.web_bind, conf.web_port)
    recorder = Recorder()
    monkeypatch.setattr(app_module, "log", recorder)
    yield conf, recorder
    conf.canonical_url, conf.web_bind, conf.web_port = saved


def test_the_worker_finds_itself_after_the_web_port_flag(web_conf, monkeypatch):
    conf, _ = web_conf
    # What `faust worker --web-port 7011` leaves: the canonical URL rebuilt from the flag.
    conf.web_port = 7011
    conf.canonical_url = "http://127.0.0.1:7011"
    app_module.app._settle_web_address()
    assert peers.self_url() == "http://127.0.0.1:7011"
    assert app_module.settings.web_url != peers.self_url()  # the settings alone would miss it

    topic = "jobs-changelog"
    metadata = {"http://127.0.0.1:7011": {topic: {0, 2}}, "http://127.0.0.1:7012": {topic: {1}}}
    monkeypatch.setattr(app_module.app.assignor, "table_metadata", lambda _t: metadata)
    assert peers.is_mine(topic, 0) and peers.is_mine(topic, 2)
    assert not peers.is_mine(topic, 1) and not peers.is_mine(topic, 3)


def test_an_open_bind_without_a_read_token_is_warned_once(web_conf, monkeypatch):
    conf, recorder = web_conf
    conf.web_bind = "0.0.0.0"
    app_module.app._settle_web_address()
    warnings = [e for e in recorder.events if e[0] == "warning"]
    assert [e[1] for e in warnings] == ["web_views_open"]
    recorder.events.clear()
    conf.web_bind = "127.0.0.1"
    app_module.app._settle_web_address()
    assert not [e for e in recorder.events if e[0] == "warning"]
    monkeypatch.setattr(app_module, "settings",
                        dataclasses.replace(app_module.settings, read_token=READ))
    conf.web_bind = "0.0.0.0"
    app_module.app._settle_web_address()
    assert not [e for e in recorder.events if e[0] == "warning"]


def test_forwarded_requests_carry_the_callers_credentials():
    passed = peers._passed({"Authorization": f"Bearer {READ}", "Cookie": "c=1",
                            "Content-Type": "application/json", "Host": "x"})
    assert passed == {"Authorization": f"Bearer {READ}", "Content-Type": "application/json",
                      peers.ROUTED_HEADER: "1"}


def test_the_container_binds_every_address_and_gets_the_tokens(tmp_path, monkeypatch):
    from pathlib import Path

    import yaml
    root = Path(__file__).resolve().parents[2]
    assert "BIFROST_WEB_HOST=0.0.0.0" in (root / "Dockerfile").read_text()
    worker = yaml.safe_load((root / "docker-compose.yml").read_text())["services"]["worker"]
    environment = worker["environment"]
    assert environment["BIFROST_WEB_HOST"] == "0.0.0.0"
    assert environment["BIFROST_READ_TOKEN"] == "${BIFROST_READ_TOKEN:-}"
    assert environment["BIFROST_ADMIN_TOKEN"] == "${BIFROST_ADMIN_TOKEN:-}"
    # Outside a container nothing but this machine reaches an unconfigured worker.
    monkeypatch.chdir(tmp_path)  # no bifrost.yaml
    assert web_address.is_loopback(app_module.config.load({}).web_host)
