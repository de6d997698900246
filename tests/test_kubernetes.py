"""The Kubernetes manifests (deploy/kubernetes), rendered per overlay as `kubectl apply -k` would, checked against
the code: ports, probes, settings, Secrets, metric names, network policy, security and each overlay's profile.
`make kubernetes` validates the same renderings against the Kubernetes schemas and runs checkov on them."""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from devstack.gateway_process import GatewayProcess
from gateway.config import GatewayConfig, load_config
from gateway.observability.metrics import GatewayMetrics
from tests.monitoring.test_monitoring import exposed_names, metric_names_in
from tests.test_deployment import KNOWN_ENV
from triton_server.launcher import PIPELINE_CONFIG_NAME, Profile, TritonServer, TritonSettings, profile_args

ROOT = Path(__file__).resolve().parents[1]
# Each overlay and the serving profile its Triton runs.
OVERLAY_PROFILES: dict[str, Profile] = {"cpu": "fused", "gpu": "pipeline"}
OVERLAYS = tuple(OVERLAY_PROFILES)
GPU = "nvidia.com/gpu"
# Who may reach Triton besides the gateway (network-policies.yaml, docs/deployment.md).
PROMETHEUS_PEER = {
    "namespaceSelector": {"matchLabels": {"dattavani.io/prometheus": "true"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}
Objects = dict[tuple[str, str], dict[str, Any]]


@functools.cache
def rendered(overlay: str) -> Objects:
    """Every object of the overlay by (kind, name)."""
    command = ["kubectl", "kustomize", str(ROOT / "deploy" / "kubernetes" / "overlays" / overlay)]
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(text)}


@pytest.fixture(params=OVERLAYS)
def objects(request: pytest.FixtureRequest) -> Objects:
    return rendered(request.param)


def pod(objects: Objects, component: str) -> dict[str, Any]:
    """The pod template (metadata and spec) of the component's Deployment."""
    return dict(objects["Deployment", f"dattavani-{component}"]["spec"]["template"])


def container(objects: Objects, component: str) -> dict[str, Any]:
    (only,) = pod(objects, component)["spec"]["containers"]
    return dict(only)


def ports(objects: Objects, component: str) -> dict[str, int]:
    return {port["name"]: port["containerPort"] for port in container(objects, component)["ports"]}


def gateway_env(objects: Objects) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container(objects, "gateway")["env"]}


def pre_stop_sleep_s(objects: Objects, component: str) -> int:
    command = container(objects, component)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    return int(command[1])


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def adapter_rules(objects: Objects) -> dict[str, dict[str, Any]]:
    """prometheus-adapter's rules by the name of the metric each exposes."""
    config = yaml.safe_load(objects["ConfigMap", "dattavani-prometheus-adapter"]["data"]["config.yaml"])
    return {rule["name"]["as"]: rule for rule in config["rules"]}


def scrape_jobs(objects: Objects) -> dict[str, dict[str, Any]]:
    config = yaml.safe_load(objects["ConfigMap", "dattavani-prometheus"]["data"]["prometheus.yml"])
    return {job["job_name"]: job for job in config["scrape_configs"]}


def documented_secrets() -> dict[str, set[str]]:
    """Secret name -> keys, from the `kubectl create secret generic NAME --from-file=KEY=...` commands of the docs."""
    secrets: dict[str, set[str]] = {}
    text = (ROOT / "docs" / "deployment.md").read_text()
    for name, files in re.findall(r"kubectl .*create secret generic (\S+)((?: --from-file=\S+)+)", text):
        secrets[name] = {item.split("=")[1] for item in files.split()}
    return secrets


def test_gateway_listens_on_its_configured_port_with_probes_on_its_health_routes(objects: Objects) -> None:
    gateway = container(objects, "gateway")
    assert ports(objects, "gateway") == {"http": GatewayConfig().port}
    probes = {kind: gateway[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert {probe["port"] for probe in probes.values()} == {"http"}
    assert probes["livenessProbe"]["path"] == probes["startupProbe"]["path"] == "/health/live"
    assert probes["readinessProbe"]["path"] == "/health/ready/minimal"
    service = objects["Service", "dattavani-gateway"]["spec"]
    assert [(p["port"], p["targetPort"]) for p in service["ports"]] == [(GatewayConfig().port, "http")]


def test_gateway_probes_answer_without_a_key(gateway: GatewayProcess) -> None:
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        path = container(rendered("cpu"), "gateway")[kind]["httpGet"]["path"]
        assert requests.get(f"{gateway.url}{path}", timeout=30).status_code == 200, path


def test_gateway_settings_are_read_by_the_code_and_find_triton_by_dns(objects: Objects) -> None:
    env = gateway_env(objects)
    for component in ("gateway", "triton"):
        names = {item["name"] for item in container(objects, component).get("env", [])}
        assert names <= KNOWN_ENV, names - KNOWN_ENV
    config = load_config(environ=env)
    triton = TritonSettings()
    assert (config.host, config.triton_discovery, config.triton_dns_refresh_s) == ("0.0.0.0", "dns", 10)
    assert config.triton_url == (f"{objects['Service', 'dattavani-triton']['metadata']['name']}:{triton.grpc_port}",)
    assert config.triton_metrics_url == (f"http://{{host}}:{triton.metrics_port}/metrics",)
    assert config.metrics_require_key


def test_gateway_grace_period_outlasts_the_pre_stop_sleep_and_the_drain(objects: Objects) -> None:
    config = load_config(environ=gateway_env(objects))
    drain_s = config.drain_timeout_s + config.drain_grace_s + pre_stop_sleep_s(objects, "gateway")
    assert pod(objects, "gateway")["spec"]["terminationGracePeriodSeconds"] > drain_s


def test_triton_serves_on_the_launcher_ports_behind_a_headless_service_of_ready_pods(objects: Objects) -> None:
    settings = TritonSettings()
    assert ports(objects, "triton") == {
        "http": settings.http_port,
        "grpc": settings.grpc_port,
        "metrics": settings.metrics_port,
    }
    triton = container(objects, "triton")
    for kind in ("startupProbe", "readinessProbe"):
        assert triton[kind]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    service = objects["Service", "dattavani-triton"]["spec"]
    assert (service["clusterIP"], service["publishNotReadyAddresses"]) == ("None", False)
    assert {p["name"]: p["port"] for p in service["ports"]} == {
        "grpc": settings.grpc_port,
        "metrics": settings.metrics_port,
    }


def test_triton_runs_the_image_command_and_the_overlay_profile() -> None:
    dockerfile = (ROOT / "Dockerfile.triton").read_text().replace("\\\n", "")
    image_command = json.loads(dockerfile.split("\nCMD ", 1)[1].splitlines()[0])
    models = GatewayConfig().models
    for overlay, profile in OVERLAY_PROFILES.items():
        args = container(rendered(overlay), "triton")["args"]
        assert args[: len(image_command)] == image_command
        assert set(profile_args(profile, models)) <= set(args)
        assert (f"--model-config-name={PIPELINE_CONFIG_NAME}" in args) == (profile == "pipeline")


def test_triton_grace_period_outlasts_the_pre_stop_sleep_and_its_exit_timeout(objects: Objects) -> None:
    (exit_timeout,) = [arg for arg in container(objects, "triton")["args"] if arg.startswith("--exit-timeout-secs=")]
    needed_s = pre_stop_sleep_s(objects, "triton") + int(exit_timeout.split("=")[1])
    assert pod(objects, "triton")["spec"]["terminationGracePeriodSeconds"] > needed_s
    # The sleep outlasts the gateways' next look-up of the Service's name, which drops the pod.
    assert pre_stop_sleep_s(objects, "triton") > load_config(environ=gateway_env(objects)).triton_dns_refresh_s


def test_triton_liveness_probe_is_the_canary_of_every_served_model_and_passes(triton: TritonServer) -> None:
    probe = container(rendered("cpu"), "triton")["livenessProbe"]
    command = probe["exec"]["command"]
    assert command[:3] == ["python", "-m", "triton_server.canary"]
    assert f"--url=127.0.0.1:{TritonSettings().grpc_port}" in command
    models = [arg.split("=")[1] for arg in command if arg.startswith("--model=")]
    assert models == list(GatewayConfig().models)
    (timeout,) = [arg for arg in command if arg.startswith("--timeout-s=")]
    assert probe["timeoutSeconds"] > float(timeout.split("=")[1]) * len(models)  # the models are asked in turn
    here = [
        sys.executable,
        *[f"--url={triton.settings.grpc_url}" if a.startswith("--url=") else a for a in command[1:]],
    ]
    assert subprocess.run(here, capture_output=True, timeout=120).returncode == 0


def test_only_the_gpu_overlay_asks_for_a_gpu() -> None:
    for overlay in OVERLAYS:
        spec = pod(rendered(overlay), "triton")["spec"]
        resources = container(rendered(overlay), "triton")["resources"]
        gpu = overlay == "gpu"
        assert all(resources[part].get(GPU) == (1 if gpu else None) for part in ("requests", "limits")), overlay
        assert [t["key"] for t in spec.get("tolerations", [])] == ([GPU] if gpu else []), overlay
    images = {overlay: container(rendered(overlay), "triton")["image"] for overlay in OVERLAYS}
    assert images["gpu"] != images["cpu"]


def test_pods_read_exactly_the_secrets_the_docs_create(objects: Objects) -> None:
    assert not [kind for kind, _ in objects if kind == "Secret"], "secret values are never committed"
    read: dict[str, set[str]] = {}
    for component in ("gateway", "triton"):
        for volume in pod(objects, component)["spec"]["volumes"]:
            if "secret" in volume:
                read[volume["secret"]["secretName"]] = {item["key"] for item in volume["secret"]["items"]}
    (mount,) = [m for m in container(objects, "gateway")["volumeMounts"] if m["name"] == "api-keys"]
    assert gateway_env(objects)["DATTAVANI_API_KEYS_FILE"] == f"{mount['mountPath']}/api-keys.sha256"
    # Prometheus' metrics key: the Secret mounted at /etc/prometheus/secrets/<name>/ (docs/deployment.md).
    credentials = scrape_jobs(objects)["gateway"]["authorization"]["credentials_file"]
    name, key = credentials.removeprefix("/etc/prometheus/secrets/").split("/")
    read.setdefault(name, set()).add(key)
    assert read == documented_secrets()


def test_autoscalers_read_adapter_metrics_of_series_the_code_exposes(
    objects: Objects, gateway: GatewayProcess, triton: TritonServer
) -> None:
    registry = GatewayMetrics().registry
    gateway_names = {m.name for m in registry.collect()} | {s.name for m in registry.collect() for s in m.samples}
    triton_names = exposed_names(gateway, triton)  # a real Triton's scrape after a transcription
    rules = adapter_rules(objects)
    jobs = scrape_jobs(objects)
    for (kind, name), hpa in objects.items():
        if kind != "HorizontalPodAutoscaler":
            continue
        target = hpa["spec"]["scaleTargetRef"]
        component = objects["Deployment", target["name"]]["metadata"]["labels"]["app.kubernetes.io/component"]
        (metric,) = hpa["spec"]["metrics"]
        rule = rules[metric["pods"]["metric"]["name"]]
        assert f'job="{component}"' in rule["seriesQuery"] and component in jobs, name
        # clamp_min: a PromQL function the monitoring tests' word list lacks
        series = (metric_names_in(rule["seriesQuery"]) | metric_names_in(rule["metricsQuery"])) - {"clamp_min"}
        known = gateway_names if component == "gateway" else triton_names
        assert series and series <= known, series - known


def test_gateway_autoscaler_acts_before_pods_are_full(objects: Objects) -> None:
    target = objects["HorizontalPodAutoscaler", "dattavani-gateway"]["spec"]["metrics"][0]["pods"]["target"]
    assert float(target["averageValue"]) < GatewayConfig().max_concurrent_requests


def test_prometheus_scrapes_the_pods_ports_in_this_namespace_under_the_alerts_job_names(objects: Objects) -> None:
    namespaces = {o["metadata"]["namespace"] for o in objects.values()}
    alerts = (ROOT / "monitoring" / "alerts.yml").read_text()
    for job_name, job in scrape_jobs(objects).items():
        (discovery,) = job["kubernetes_sd_configs"]
        assert (discovery["role"], set(discovery["namespaces"]["names"])) == ("pod", namespaces)
        keep = job["relabel_configs"][0]
        assert keep["action"] == "keep"
        name, component, port = keep["regex"].split(";")
        labels = pod(objects, component)["metadata"]["labels"]
        assert (labels["app.kubernetes.io/name"], component) == (name, job_name)
        assert port in ports(objects, component)
    assert set(re.findall(r'job="(\w+)"', alerts)) <= set(scrape_jobs(objects))


def test_triton_admits_only_the_gateway_and_prometheus(objects: Objects) -> None:
    policy = objects["NetworkPolicy", "dattavani-triton"]["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    assert selects(policy["podSelector"]["matchLabels"], pod(objects, "triton")["metadata"]["labels"])
    admitted = [(peer, {p["port"] for p in rule["ports"]}) for rule in policy["ingress"] for peer in rule["from"]]
    (gateway_peer, gateway_ports), (prometheus_peer, prometheus_ports) = admitted
    assert set(gateway_peer) == {"podSelector"}  # in this namespace
    gateway_selector = gateway_peer["podSelector"]["matchLabels"]
    assert selects(gateway_selector, pod(objects, "gateway")["metadata"]["labels"])
    assert not selects(gateway_selector, pod(objects, "triton")["metadata"]["labels"])
    settings = TritonSettings()
    assert gateway_ports == {settings.grpc_port, settings.metrics_port}
    assert (prometheus_peer, prometheus_ports) == (PROMETHEUS_PEER, {settings.metrics_port})
    docs = (ROOT / "docs" / "deployment.md").read_text()
    assert "dattavani.io/prometheus=true" in docs and "app.kubernetes.io/name=prometheus" in docs


def test_every_pod_runs_non_root_without_privileges(objects: Objects) -> None:
    for component in ("gateway", "triton"):
        spec = pod(objects, component)["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        context = container(objects, component)["securityContext"]
        assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
    volumes = {v["name"]: v for v in pod(objects, "triton")["spec"]["volumes"]}
    (shm,) = [m for m in container(objects, "triton")["volumeMounts"] if m["mountPath"] == "/dev/shm"]
    assert volumes[shm["name"]]["emptyDir"]["medium"] == "Memory"


def test_services_disruption_budgets_and_autoscalers_select_the_pods(objects: Objects) -> None:
    for component in ("gateway", "triton"):
        labels = pod(objects, component)["metadata"]["labels"]
        name = f"dattavani-{component}"
        assert selects(objects["Service", name]["spec"]["selector"], labels)
        assert selects(objects["PodDisruptionBudget", name]["spec"]["selector"]["matchLabels"], labels)
        assert objects["HorizontalPodAutoscaler", name]["spec"]["scaleTargetRef"]["name"] == name
