"""Deployment files: the compose file and Kubernetes manifests validate against their schemas
(no Docker engine or cluster here), Prometheus config and rules pass promtool, and the dashboards
match their generator."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
K8S = [DEPLOY / "k8s" / f
       for f in ("namespace.yaml", "configmap.yaml", "topics-job.yaml", "worker.yaml", "connect.yaml")]


def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120, cwd=ROOT)


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: .ci/run installs Debian's prometheus package"
    return path


def test_compose_file_validates_and_a_broken_one_does_not(tmp_path: Path) -> None:
    ok = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", DEPLOY / "docker-compose.yml")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "docker-compose.yml"
    text = (DEPLOY / "docker-compose.yml").read_text()
    broken.write_text(text.replace("condition: service_healthy", "condition: service_ready", 1))
    bad = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", broken)
    assert bad.returncode != 0


def test_compose_has_three_kraft_brokers_and_scalable_workers() -> None:
    from ruamel.yaml import YAML

    doc = YAML(typ="safe").load((DEPLOY / "docker-compose.yml").read_text())
    services = doc["services"]
    assert {"kafka1", "kafka2", "kafka3", "topics", "worker", "connect", "prometheus", "grafana"} <= set(services)
    assert services["worker"]["deploy"]["replicas"] >= 2 and "container_name" not in services["worker"]


def test_scaled_compose_workers_each_get_their_own_static_member_id() -> None:
    """Issue 16: every replica had WARWIRE_WORKER_ID unset, so all had static member id `0` and
    fenced each other. "auto" is the container's hostname, one per replica."""
    import socket

    from ruamel.yaml import YAML

    from streams.config import worker_id

    doc = YAML(typ="safe").load((DEPLOY / "docker-compose.yml").read_text())
    env = doc["services"]["worker"]["environment"]
    assert env["WARWIRE_WORKER_ID"] == "auto" and env["WARWIRE_BROKER"].startswith("kafka1:")
    assert worker_id("auto") == socket.gethostname() != "0"
    assert worker_id(None) == "0" and worker_id("3") == "3"


def test_kubernetes_manifests_validate_strictly_and_a_broken_one_does_not(tmp_path: Path) -> None:
    ok = run(BIN / "kubernetes-validate", "--strict", "-k", "1.34.0", *K8S)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "worker.yaml"
    broken.write_text((DEPLOY / "k8s" / "worker.yaml").read_text().replace("replicas: 3", "replicas: three"))
    assert run(BIN / "kubernetes-validate", "--strict", "-k", "1.34.0", broken).returncode != 0


def test_prometheus_config_rules_and_rule_unit_tests() -> None:
    for cfg in ("prometheus.yml", "prometheus-compose.yml"):
        res = run(promtool(), "check", "config", DEPLOY / "prometheus" / cfg)
        assert res.returncode == 0, res.stdout + res.stderr
    res = run(promtool(), "check", "rules", DEPLOY / "prometheus" / "rules.yml")
    assert res.returncode == 0 and "7 rules found" in res.stdout, res.stdout + res.stderr
    res = run(promtool(), "test", "rules", DEPLOY / "prometheus" / "rules_test.yml")
    assert res.returncode == 0 and "SUCCESS" in res.stdout, res.stdout + res.stderr


def test_dashboards_match_their_generator_and_use_the_provisioned_datasource() -> None:
    sys.path.insert(0, str(DEPLOY / "grafana"))
    try:
        import build_dashboards as gen
    finally:
        sys.path.pop(0)
    for name, board in (("newsroom", gen.NEWSROOM), ("operators", gen.OPERATORS)):
        on_disk = json.loads((DEPLOY / "grafana" / "dashboards" / f"{name}.json").read_text())
        assert on_disk == json.loads(json.dumps(board)), f"run python deploy/grafana/build_dashboards.py ({name})"
        assert all(t["datasource"]["uid"] == "prometheus" for p in on_disk["panels"] for t in p["targets"])
    assert "uid: prometheus" in (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()


@pytest.mark.parametrize("path", ["Dockerfile"])
def test_dockerfile_runs_as_non_root_from_the_pinned_constraints(path: str) -> None:
    text = (ROOT / path).read_text()
    assert "-c constraints.txt" in text and "USER 10001" in text and "python:3.11-slim" in text
