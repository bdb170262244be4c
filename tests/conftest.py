"""Fixtures: the real broker and database for integration tests, a fake model for both kinds.

Unit tests import the app with the in-memory table store and a broker address nothing listens
on; they never start a server. Integration tests start Apache Kafka and PostgreSQL once per
session (scripts/kafka.sh, scripts/postgres.sh) and give each test its own topics, consumer
group, database and data directory.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Dict

import pytest

# The app module reads its settings at import; unit tests get these.
os.environ.setdefault("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
os.environ.setdefault("BIFROST_TABLE_STORE", "memory://")
os.environ.setdefault("BIFROST_OLLAMA_MODEL", "fake-model")
os.environ.setdefault("BIFROST_LOG_LEVEL", "warning")

from tests.support.fake_ollama import FakeOllama  # noqa: E402
from tests.support.services import (KafkaBroker, Postgres, Worker, free_port,  # noqa: E402
                                    free_port_pair)


@pytest.fixture(scope="session")
def kafka(tmp_path_factory) -> KafkaBroker:
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"), free_port_pair()).start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def postgres() -> Postgres:
    # Outside pytest's 0700 tmp tree: the server runs as the postgres user, not root.
    directory = Path(tempfile.mkdtemp(prefix="bifrost-pg-"))
    os.chmod(directory, 0o755)
    server = Postgres(directory / "data", free_port()).start()
    yield server
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def fake_ollama() -> FakeOllama:
    server = FakeOllama().start()
    yield server
    server.stop()


@pytest.fixture
def pipeline_env(kafka, postgres, fake_ollama, tmp_path) -> Dict[str, str]:
    """Environment for one worker group: unique topics, group, database and data dir."""
    suffix = uuid.uuid4().hex[:8]
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "BIFROST_APP_ID": f"bifrost-test-{suffix}",
        "BIFROST_REQUEST_TOPIC": f"analysis.request.{suffix}",
        "BIFROST_RESULT_TOPIC": f"analysis.result.{suffix}",
        "BIFROST_DLQ_TOPIC": f"dlq.failed.{suffix}",
        "BIFROST_ALERT_TOPIC": f"notification.alert.{suffix}",
        "BIFROST_DATABASE_URL": postgres.create_database(f"bifrost_{suffix}"),
        "BIFROST_OLLAMA_URL": fake_ollama.url,
        "BIFROST_OLLAMA_MODEL": fake_ollama.model,
        "BIFROST_WEB_PORT": str(free_port()),
        "BIFROST_WEB_HOST": "127.0.0.1",
        "BIFROST_DATA_DIR": str(tmp_path / "data"),
        "BIFROST_TABLE_STORE": "rocksdb://",
        "BIFROST_LOG_LEVEL": "debug",
        "BIFROST_LOG_FETCH_ATTEMPTS": "3",
        "BIFROST_MAX_REQUEST_BYTES": "65536",
        "BIFROST_SESSION_TIMEOUT_SECONDS": "10",
        # Several tests send hundreds of distinct lines of one service within a minute and
        # count the model's calls; test_bounds_integration sets a budget and checks it.
        "BIFROST_MODEL_BUDGET_PER_MINUTE": "0",
    }


@pytest.fixture
def worker_factory(pipeline_env, tmp_path):
    workers = []

    def make(name: str = "worker", **overrides: str) -> Worker:
        env = {**pipeline_env, **overrides}
        workdir = tmp_path / name
        workdir.mkdir(exist_ok=True)
        worker = Worker(env, workdir, name)
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.dump_tasks()  # a stalled worker then shows in its log what it waited for
        worker.stop()
        # Shown by pytest only when the test failed.
        print(f"----- {worker.name} log (tail) -----\n{worker.tail(40)}")


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if "integration" in Path(item.fspath).name:
            item.add_marker(pytest.mark.integration)
