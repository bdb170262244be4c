"""The documented command as a new user types it: `faust -A bifrost_streams.app worker -l info
--web-port N` in an empty directory against an existing broker, with a read token set.

It must start (its data directory is created with its parents), find itself in the group's
assignment under the port the flag gave (so /jobs answers 200 and 404, never 503), and serve
no view but the probes without the token, and none of Faust's own table or router views.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.requests_corpus import inline_request
from tests.support.kafka_io import as_messages, produce, read_topic
from tests.support.services import Worker, free_port

READ_TOKEN = "test-read-token-0123456789"
ADMIN_TOKEN = "test-admin-token-0123456789"
BEARER = {"Authorization": f"Bearer {READ_TOKEN}"}


class CliWorker(Worker):
    """The .venv's `faust` console script with Faust's own --web-port flag."""

    def __init__(self, env, workdir: Path, log_path: Path, web_port: int) -> None:
        super().__init__(env, workdir, "cli-worker")
        self.port = web_port
        self.log_path = log_path  # outside the working directory, which stays empty

    def start(self) -> "CliWorker":
        faust = Path(sys.executable).with_name("faust")
        environ = {key: value for key, value in {**os.environ, **self.env}.items()
                   if value is not None}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(faust), "-A", "bifrost_streams.app", "worker", "-l", "info",
                 "--web-port", str(self.port)],
                env=environ, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)
        return self

    def status(self) -> dict:
        code, body = self.request("/status", headers=BEARER)
        return json.loads(body) if code == 200 else {}


def _basic(password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"ops:{password}".encode()).decode()}


async def test_the_faust_command_in_an_empty_directory(pipeline_env, tmp_path):
    configured_port, flag_port = free_port(), free_port()
    assert configured_port != flag_port
    env = {**pipeline_env,
           # The default data directory, relative to the empty working directory.
           "BIFROST_DATA_DIR": None,
           # The flag wins over it; nothing listens here.
           "BIFROST_WEB_PORT": str(configured_port),
           "BIFROST_READ_TOKEN": READ_TOKEN, "BIFROST_ADMIN_TOKEN": ADMIN_TOKEN}
    workdir = tmp_path / "empty"
    workdir.mkdir()
    worker = CliWorker(env, workdir, tmp_path / "cli-worker.log", flag_port)
    try:
        worker.start().wait_ready(timeout=180)
        assert (workdir / ".bifrost" / "data").is_dir()

        request = inline_request("ERROR payment 7 failed: connection refused", "payments")
        job_id = request["request_id"]  # the inline form's job id
        await produce(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_REQUEST_TOPIC"],
                      as_messages([request]))
        await read_topic(env["KAFKA_BOOTSTRAP_SERVERS"], env["BIFROST_RESULT_TOPIC"],
                         lambda rs: any(r["value"]["job_id"] == job_id for r in rs), 90,
                         "the inline request's result")

        # The worker owns the job's partition under the flag's port: it answers itself.
        status, body = worker.request(f"/jobs/{job_id}", headers=BEARER)
        assert status == 200, (status, body)
        job = json.loads(body)
        assert job["state"] == "DONE" and job["job_id"] == job_id
        status, body = worker.request(f"/jobs/{uuid.uuid4()}", headers=BEARER)
        assert status == 404, (status, body)

        guarded = ["/status", f"/jobs/{job_id}", "/dlq", "/templates", "/analyses", "/"]
        for path in guarded:
            status, body = worker.request(path)
            assert status == 401, (path, status, body)
            assert worker.request(path, headers={
                "Authorization": "Bearer wrong-token-0123456789"})[0] == 401, path
            assert worker.request(path, headers=BEARER)[0] == 200, path
        # A browser asks its user: Basic auth with the token as password opens the page, and
        # the admin token grants read as well.
        assert worker.request("/", headers=_basic(READ_TOKEN))[0] == 200
        assert worker.request("/status", headers={
            "Authorization": f"Bearer {ADMIN_TOKEN}"})[0] == 200
        for path in ("/health", "/metrics"):
            assert worker.request(path)[0] == 200, path

        dead_letters = "/table/dead-letters/"
        for path in ("/table/", dead_letters, f"{dead_letters}{job_id}/", "/router/",
                     f"/router/dead-letters/{job_id}/", "/graph/", "/assignment/",
                     "/performance/"):
            assert worker.request(path)[0] == 401, path
            assert worker.request(path, headers=BEARER)[0] == 404, path

        log = worker.log_path.read_text(errors="replace")
        assert '"event": "web_routes"' in log
        assert "web_views_open" not in log  # it binds 127.0.0.1
        assert READ_TOKEN not in log and ADMIN_TOKEN not in log
    finally:
        worker.stop(timeout=60)
        print(f"----- cli worker log (tail) -----\n{worker.tail(60)}")
    assert worker.process.poll() is not None, "the worker did not stop"
