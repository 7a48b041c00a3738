"""The deployment files under deploy/: the Kubernetes manifests parse and agree with each other
and with `mlbridge serve`'s drain, and both HAProxy configurations are valid and say the same."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
KUBERNETES = ROOT / "deploy" / "kubernetes"
HAPROXY_TEMPLATE = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
HAPROXY_KUBERNETES = KUBERNETES / "haproxy.cfg"


def manifests() -> dict[tuple[str, str], dict[str, Any]]:
    """Every object of deploy/kubernetes/*.yaml by (kind, name)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document and document.get("kind") != "Kustomization":
                found[(document["kind"], document["metadata"]["name"])] = document
    return found


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_every_manifest_parses_and_kustomization_lists_them_all() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk
    for generator in kustomization["configMapGenerator"]:
        for file in generator["files"]:
            assert (KUBERNETES / file).is_file(), file
    kinds = {kind for kind, _ in manifests()}
    assert {"Deployment", "Service", "ConfigMap", "StatefulSet", "Secret"} <= kinds


def test_hosts_drain_within_the_termination_grace_and_are_probed_on_readyz() -> None:
    # /readyz needs the token, which an httpGet probe cannot take from a Secret: the probe
    # runs the image's Python with it.
    deployment = manifests()[("Deployment", "mlbridge")]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    probe = " ".join(container["readinessProbe"]["exec"]["command"])
    assert "http://127.0.0.1:8787/readyz" in probe and "MLBRIDGE_TOKEN" in probe
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    drain_ms = int(flag(container["args"], "--drain-grace-ms"))
    shutdown_ms = 5000  # timeouts.shutdown_ms's default: what calls get after the grace
    assert pod["terminationGracePeriodSeconds"] * 1000 > drain_ms + shutdown_ms
    # The grace must outlast HAProxy's way of noticing: two failed checks, and its DNS hold.
    cfg = HAPROXY_KUBERNETES.read_text()
    assert drain_ms >= 1000 * int(re.search(r"hold valid (\d+)s", cfg).group(1))


def test_secrets_the_pods_read_exist_and_the_store_url_takes_the_password_from_them() -> None:
    objects = manifests()
    secret_keys = set(objects[("Secret", "mlbridge-secrets")]["stringData"])
    for kind, name in [
        ("Deployment", "mlbridge"),
        ("Deployment", "mlbridge-haproxy"),
        ("StatefulSet", "redis"),
    ]:
        for container in objects[(kind, name)]["spec"]["template"]["spec"]["containers"]:
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "mlbridge-secrets" and ref["key"] in secret_keys
    config = yaml.safe_load(objects[("ConfigMap", "mlbridge-config")]["data"]["mlbridge.yaml"])
    assert config["host"]["session_store"] == "redis://:${REDIS_PASSWORD}@redis:6379/0"
    assert config["host"]["auth_token_env"] in secret_keys


def directives(path: Path, section: str) -> list[str]:
    """The lines of one section (e.g. "backend mlbridge_hosts"), comments and servers left out."""
    lines, inside = [], False
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if raw and not raw[0].isspace():
            inside = line == section
            continue
        if inside and line.strip() and not line.strip().startswith(("server ", "server-template")):
            lines.append(line.strip())
    return lines


def test_the_kubernetes_haproxy_balances_and_checks_exactly_like_the_template() -> None:
    for section in ["defaults", "backend mlbridge_hosts"]:
        assert directives(HAPROXY_KUBERNETES, section) == directives(HAPROXY_TEMPLATE, section)
    backend = directives(HAPROXY_TEMPLATE, "backend mlbridge_hosts")
    assert "balance hdr(X-Mlbridge-Session)" in backend
    assert any(line.startswith("hash-type consistent") for line in backend)
    assert "http-check expect status 200" in backend


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_both_haproxy_configurations_are_valid(tmp_path: Path) -> None:
    filled = tmp_path / "haproxy.cfg"
    servers = "    server h1 10.77.0.11:8787\n    server h2 10.77.0.12:8787"
    filled.write_text(HAPROXY_TEMPLATE.read_text().replace("    # @MLBRIDGE_SERVERS@", servers))
    env = dict(
        os.environ,
        MLBRIDGE_LB_BIND="127.0.0.1:8080",
        MLBRIDGE_TOKEN="a-token",
        MLBRIDGE_HOSTS_DNS="mlbridge-hosts.default.svc.cluster.local:8787",
    )
    for path in [filled, HAPROXY_KUBERNETES]:
        done = subprocess.run(
            ["haproxy", "-c", "-f", str(path)], capture_output=True, text=True, env=env, check=False
        )
        assert done.returncode == 0, f"{path}: {done.stdout}{done.stderr}"
    assert "server h1 10.77.0.11:8787" in filled.read_text()


def test_cluster_script_parses_and_explains_itself() -> None:
    subprocess.run(["bash", "-n", str(ROOT / "scripts" / "cluster.sh")], check=True)
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "cluster.sh")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "kill-host N" in done.stdout and "smoke" in done.stdout
