"""docker-compose.yml, the Dockerfile and deploy/ stay valid (no Docker engine runs here to try
them): images pinned, mounts present, and Prometheus, Grafana and the dashboard agree with the
worker they watch."""
from __future__ import annotations

import configparser
import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from bifrost_streams import metrics
from bifrost_streams.config import OPTIONS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def bind_mounts(service: dict) -> dict:
    """Container path -> repo path, for the service's mounts of files kept in the repo."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts[target] = ROOT / source
    return mounts


def mounted_file(service: str, container_path: str) -> Path:
    """The repo file a service sees at container_path, through a mount of it or of a parent."""
    for target, source in bind_mounts(SERVICES[service]).items():
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return source / Path(container_path).relative_to(target)
    raise AssertionError(f"{service} mounts nothing at {container_path}")


def test_every_service_has_an_image_or_a_build_and_valid_ports():
    for name, service in SERVICES.items():
        assert ("image" in service) != ("build" in service), name
        for port in service.get("ports", []):
            assert re.fullmatch(r"\d{1,5}:\d{1,5}", port), (name, port)
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES, (name, dependency)


def test_every_image_has_a_pinned_tag_and_every_build_a_context():
    for name, service in SERVICES.items():
        if "build" in service:
            build = service["build"]
            context = build if isinstance(build, str) else build.get("context", ".")
            assert (ROOT / context / "Dockerfile").is_file(), name
            continue
        # A tag comes after the last ':' of the last path part (a registry may carry a port).
        repository, _, tag = service["image"].rpartition(":")
        assert repository and "/" not in tag, (name, "no tag", service["image"])
        assert tag != "latest", (name, service["image"])


def test_every_published_host_port_is_unique():
    host_ports = [p.split(":")[0] for s in SERVICES.values() for p in s.get("ports", [])]
    duplicates = {port for port in host_ports if host_ports.count(port) > 1}
    assert not duplicates


def test_every_mount_names_a_repo_path_or_a_declared_volume():
    declared = set(COMPOSE.get("volumes") or {})
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source, target, *mode = volume.split(":")
            assert target.startswith("/"), (name, volume)
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), (name, volume)
                # The stack reads its configuration; it has no business writing into the repo.
                assert mode == ["ro"], (name, volume)
            else:
                assert source in declared, (name, volume)


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


def test_prometheus_scrapes_the_worker_metrics_endpoint():
    config = yaml.safe_load(mounted_file("prometheus", "/etc/prometheus/prometheus.yml")
                            .read_text())
    web_port = SERVICES["worker"]["environment"]["BIFROST_WEB_PORT"]
    scraped = set()
    for job in config["scrape_configs"]:
        for group in job["static_configs"]:
            for target in group["targets"]:
                host, _, port = target.rpartition(":")
                assert host in SERVICES, (job["job_name"], target)
                scraped.add((host, port, job.get("metrics_path", "/metrics")))
    assert ("worker", web_port, "/metrics") in scraped


def test_grafana_reads_the_prometheus_service_and_the_dashboard():
    provisioning = "/etc/grafana/provisioning"
    datasources = yaml.safe_load(mounted_file(
        "grafana", f"{provisioning}/datasources/prometheus.yml").read_text())["datasources"]
    prometheus_port = SERVICES["prometheus"]["ports"][0].split(":")[1]
    (source,) = [d for d in datasources if d["type"] == "prometheus"]
    assert source["url"] == f"http://prometheus:{prometheus_port}"
    providers = yaml.safe_load(mounted_file(
        "grafana", f"{provisioning}/dashboards/bifrost.yml").read_text())["providers"]
    (provider,) = providers
    dashboard = mounted_file("grafana", provider["options"]["path"]) / "bifrost.json"
    assert dashboard == ROOT / "deploy/grafana/dashboards/bifrost.json"
    uids = {panel["datasource"]["uid"] for panel in dashboard_panels()}
    assert uids == {source["uid"]}


def dashboard_panels(panels=None):
    if panels is None:
        panels = json.loads((ROOT / "deploy/grafana/dashboards/bifrost.json").read_text())["panels"]
    for panel in panels:
        yield panel
        yield from dashboard_panels(panel.get("panels", []))  # panels folded into a row


def exposed_series() -> dict:
    """Series name -> label names, as the worker's /metrics (the default registry) shows them."""
    # A labelled metric shows no series until it has a child: add one to each, then remove it.
    # prometheus-client has no public accessor for a parent's label names.
    probes = [(metric, ["probe"] * len(metric._labelnames))
              for metric in vars(metrics).values()
              if isinstance(metric, MetricWrapperBase) and metric._labelnames]
    for metric, values in probes:
        metric.labels(*values)
    try:
        return {sample.name: set(sample.labels)
                for family in REGISTRY.collect() for sample in family.samples
                if sample.name.startswith("bifrost_")}
    finally:
        for metric, values in probes:
            metric.remove(*values)


SERIES = re.compile(r"\b(bifrost_[A-Za-z0-9_:]*)\s*(?:\{([^}]*)\})?")
MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")


def test_the_dashboard_queries_only_series_and_labels_the_worker_exposes():
    exposed = exposed_series()
    assert "bifrost_requests_total" in exposed  # the probe worked
    expressions = [target["expr"] for panel in dashboard_panels()
                   for target in panel.get("targets", [])]
    assert expressions
    for expr in expressions:
        used = SERIES.findall(expr)
        assert used, expr
        for name, selector in used:
            assert name in exposed, (name, expr)
            for label in MATCHER.findall(selector):
                assert label in exposed[name], (label, name, expr)
        # Grouping must hold on every series of the expression, or a side of it loses the label.
        for clause in GROUPING.findall(expr):
            for label in filter(None, (part.strip() for part in clause.split(","))):
                for name, _ in used:
                    assert label in exposed[name], (label, name, expr)
