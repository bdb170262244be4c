"""Real servers for integration tests: Apache Kafka, PostgreSQL and bifrost workers.

Each is started by the repo's own scripts in a throwaway directory and stopped afterwards.
Waits are on conditions with deadlines, never fixed sleeps.
"""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Optional, TypeVar

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll condition() until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


_ports = random.Random()


def free_ports(count: int = 1) -> int:
    """The first of `count` consecutive free ports. They lie below the kernel's ephemeral
    range (32768+), so an outgoing connection cannot take one before its server binds it;
    that happened to a broker's controller port."""
    while True:
        port = _ports.randrange(20000, 32000 - count)
        sockets = [socket.socket() for _ in range(count)]
        try:
            for offset, sock in enumerate(sockets):
                sock.bind(("127.0.0.1", port + offset))
            return port
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()


def free_port() -> int:
    return free_ports(1)


def free_port_pair() -> int:
    """A port whose successor (the KRaft controller port) is free too."""
    return free_ports(2)


def _script(name: str, action: str, env: Dict[str, str]) -> None:
    subprocess.run(["bash", str(REPO / "scripts" / name), action], check=True,
                   env={**os.environ, **env}, timeout=600)


class KafkaBroker:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.port = port
        self.env = {"KAFKA_PORT": str(port), "KAFKA_DATA": str(data_dir)}

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "KafkaBroker":
        _script("kafka.sh", "start", self.env)
        return self

    def stop(self) -> None:
        _script("kafka.sh", "stop", self.env)


class Postgres:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.port = port
        self.env = {"PG_PORT": str(port), "PG_DATA": str(data_dir)}

    def url(self, database: str = "bifrost") -> str:
        return f"postgresql://bifrost@127.0.0.1:{self.port}/{database}"

    def start(self) -> "Postgres":
        _script("postgres.sh", "start", self.env)
        return self

    def stop(self) -> None:
        _script("postgres.sh", "stop", self.env)

    def create_database(self, name: str) -> str:
        import psycopg2
        conn = psycopg2.connect(self.url("postgres"))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return self.url(name)


def sql(dsn: str, statement: str, args: tuple = ()) -> Optional[list]:
    """Run one statement in its own transaction; its rows, if it returns any."""
    import psycopg2
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


class Worker:
    """One `faust -A <app> worker` process with its own environment."""

    def __init__(self, env: Dict[str, Optional[str]], workdir: Path,
                 name: str = "worker", app: str = "bifrost_streams.app") -> None:
        self.env = env
        self.app = app
        self.workdir = workdir
        self.name = name
        self.port = int(env.get("BIFROST_WEB_PORT") or 0)
        self.process: Optional[subprocess.Popen] = None
        self.log_path = workdir / f"{name}.log"
        self.starts = 0

    def start(self) -> "Worker":
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== start {self.starts} =====\n".encode())
        env = {key: value for key, value in {**os.environ, **self.env}.items()
               if value is not None}  # None removes a variable
        self.process = subprocess.Popen(
            [sys.executable, "-m", "faust", "-A", self.app, "worker", "-l", "info"],
            env=env, cwd=self.workdir, stdout=log,
            stderr=subprocess.STDOUT)
        return self

    def get(self, path: str) -> tuple:
        return self.request(path)

    def post(self, path: str, document: Any, token: Optional[str] = None) -> tuple:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.request(path, json.dumps(document).encode(), headers)

    def request(self, path: str, body: Optional[bytes] = None,
                headers: Optional[Dict[str, str]] = None) -> tuple:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body,
                                         headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=15) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, ConnectionError, OSError):
            return None, b""

    def status(self) -> dict:
        code, body = self.get("/status")
        return json.loads(body) if code == 200 else {}

    def wait_ready(self, timeout: float = 120) -> "Worker":
        def ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n"
                                   + self.tail())
            code, _ = self.get("/health")
            return code == 200 and self.status().get("consumer", {}).get("assignment")
        wait_for(ready, timeout, f"{self.name} to be healthy")
        return self

    def stop(self, timeout: float = 60) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def dump_tasks(self) -> None:
        """Ask a stalled worker to log what its tasks wait for (SIGUSR2)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR2)

    def tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])
