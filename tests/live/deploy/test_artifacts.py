"""The deployment artifacts of live/deploy/: Kubernetes manifests against the Kubernetes schemas (offline,
kubernetes-validate), the compose file's structure, and the Dockerfile's commands against real modules.

No container runtime is needed: images are never built here. What runs them -- container mode, the
fixed address and the advertised host -- is checked in test_container_mode.py against real processes.
"""

from __future__ import annotations

import copy
import importlib.util
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from live.gateway.config import DEFAULT_CONFIG, load_gateway_config

DEPLOY = Path(__file__).resolve().parents[3] / "live" / "deploy"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.30"
SERVICES = ("registry", "users", "inventory", "orders", "gateway")


def manifests() -> list[tuple[str, dict[str, Any]]]:
    """Every Kubernetes object under k8s/ (the kustomization lists them; it is not an API object)."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    found = []
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text(encoding="utf-8")):
            found.append((name, doc))
    return found


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests() if doc["kind"] == kind}


def test_the_kustomization_lists_every_manifest_file() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))["resources"]
    on_disk = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == on_disk


@pytest.mark.parametrize(
    ("source", "doc"), manifests(), ids=[f"{name}:{doc['kind']}" for name, doc in manifests()]
)
def test_every_manifest_is_valid_against_the_kubernetes_schema(source: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_an_unknown_field_and_a_wrong_type() -> None:
    deployment = of_kind("Deployment")["gateway"]
    unknown = copy.deepcopy(deployment)
    unknown["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {"path": "/ready"}
    wrong = copy.deepcopy(deployment)
    wrong["spec"]["replicas"] = "two"
    for broken in (unknown, wrong):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_service_has_a_deployment_with_probes_and_resources_and_a_service() -> None:
    deployments, services = of_kind("Deployment"), of_kind("Service")
    assert sorted(deployments) == sorted(SERVICES) == sorted(services)
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        assert services[name]["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
        env = {item["name"]: item for item in container["env"]}
        assert env["SERVICELAB_SERVICE"]["value"] == name
        assert env["SERVICELAB_ADVERTISE_HOST"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
        assert ("SERVICELAB_REGISTRY_URL" in env) == (name != "registry")


def test_the_autoscaler_targets_the_stateless_gateway_deployment() -> None:
    (autoscaler,) = of_kind("HorizontalPodAutoscaler").values()
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    target = autoscaler["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "gateway")
    assert target["name"] in of_kind("Deployment")
    assert 1 <= autoscaler["spec"]["minReplicas"] <= autoscaler["spec"]["maxReplicas"]


def test_the_gateway_configmap_is_a_valid_gateway_config_equal_to_the_bundled_one(tmp_path: Path) -> None:
    configmap = of_kind("ConfigMap")["gateway-config"]
    copy_path = tmp_path / "gateway.yaml"
    copy_path.write_text(configmap["data"]["gateway.yaml"], encoding="utf-8")
    assert load_gateway_config(copy_path) == load_gateway_config(DEFAULT_CONFIG)
    gateway = of_kind("Deployment")["gateway"]["spec"]["template"]["spec"]
    mounted = {v["name"]: v for v in gateway["volumes"]}["config"]["configMap"]["name"]
    assert mounted == "gateway-config"
    env = {item["name"]: item.get("value") for item in gateway["containers"][0]["env"]}
    assert env["SERVICELAB_CONFIG_FILE"] == "/etc/servicelab/gateway.yaml"


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def test_compose_runs_every_service_healthchecked_and_published_on_loopback_only() -> None:
    services = compose()["services"]
    assert set(SERVICES) <= services.keys()
    for name in SERVICES:
        service = services[name]
        assert "image" in service or "build" in service, name
        assert service["build"]["args"]["SERVICE"] == name
        assert "/health" in " ".join(service["healthcheck"]["test"]), name
        assert service["ports"], name
        for port in service["ports"]:
            assert re.fullmatch(r"127\.0\.0\.1:\d+:8000", port), f"{name} publishes {port!r}"
        env = service["environment"]
        assert env["SERVICELAB_LISTEN"] == "0.0.0.0:8000"
        assert env["SERVICELAB_ADVERTISE_HOST"] == name
        if name != "registry":
            assert env["SERVICELAB_REGISTRY_URL"] == "http://registry:8000"
            assert services[name]["depends_on"]["registry"]["condition"] == "service_healthy"


def test_compose_secrets_run_a_real_module_before_everything_else() -> None:
    services = compose()["services"]
    command = services["secrets"]["command"]
    assert command[:2] == ["python", "-m"]
    assert importlib.util.find_spec(command[2]) is not None
    for name in SERVICES:
        assert services[name]["depends_on"]["secrets"]["condition"] == "service_completed_successfully"


def test_the_dockerfile_starts_an_existing_module_for_every_service_as_a_non_root_user() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    command = re.search(r'^CMD \[.*"exec python -m live\.\$\{SERVICELAB_SERVICE\}"\]$', text, re.M)
    assert command is not None
    assert re.search(r"^ENV .*SERVICELAB_SERVICE=\$\{SERVICE\}", text, re.M | re.S)
    for name in SERVICES:
        assert importlib.util.find_spec(f"live.{name}.__main__") is not None, name
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r"^HEALTHCHECK .*/health", text, re.M | re.S)
    for source in re.findall(r"^COPY (?!--from)(\S+)/ ", text, re.M):
        assert (DEPLOY.parents[1] / source).is_dir(), source
