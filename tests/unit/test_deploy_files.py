"""docker-compose.yml and the Dockerfile stay valid (no Docker engine runs here to try them)."""
from __future__ import annotations

import configparser
import re
from pathlib import Path

import yaml

from bifrost_streams.config import OPTIONS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_every_service_has_an_image_or_a_build_and_valid_ports():
    for name, service in COMPOSE["services"].items():
        assert ("image" in service) != ("build" in service), name
        for port in service.get("ports", []):
            assert re.fullmatch(r"\d{1,5}:\d{1,5}", port), (name, port)
        for dependency in service.get("depends_on", {}):
            assert dependency in COMPOSE["services"], (name, dependency)
    host_ports = [p.split(":")[0] for s in COMPOSE["services"].values() for p in s.get("ports", [])]
    assert len(host_ports) == len(set(host_ports))


def test_the_worker_is_configured_with_known_settings_only():
    worker = COMPOSE["services"]["worker"]
    # Ours, plus the AWS credential chain's own variables (read by botocore, not by us).
    known = {option.env for option in OPTIONS.values()} | {
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
    assert set(worker["environment"]) <= known
    web_port = worker["environment"]["BIFROST_WEB_PORT"]
    assert f"{web_port}:{web_port}" in worker["ports"]
    assert f"EXPOSE {web_port}" in DOCKERFILE
    broker = worker["environment"]["KAFKA_BOOTSTRAP_SERVERS"]
    assert broker == "kafka:9092"
    assert "PLAINTEXT://kafka:9092" in COMPOSE["services"]["kafka"]["environment"][
        "KAFKA_ADVERTISED_LISTENERS"]


def test_the_dockerfile_copies_what_exists_and_runs_the_console_script():
    for source in re.findall(r"^COPY (.+) \S+$", DOCKERFILE, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), path
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    scripts = setup["options.entry_points"]["console_scripts"]
    assert "bifrost-worker = bifrost_streams.cli:main" in scripts
    assert 'CMD ["bifrost-worker"]' in DOCKERFILE
