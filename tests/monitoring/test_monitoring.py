"""monitoring/: Prometheus config, alert rules and their unit tests pass promtool, and every rule names
only metrics that a real scrape of our gateway and Triton exposes; a real Prometheus scrapes the gateway."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from devstack.gateway_process import GatewayProcess
from tests.audio_files import JFK
from tests.gateway.http import AUTH, post_audio
from tests.gateway_process import TEST_API_KEY
from triton_server.launcher import TritonServer, free_port_block

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "rate", "by", "or", "and", "unless", "on", "histogram_quantile", "le", "without",
    "increase", "count", "ignoring", "group_left", "group_right", "bool", "offset",
}  # fmt: skip


def _promtool(*args: str) -> None:
    result = subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=MONITORING)
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_config_and_rules_are_valid() -> None:
    # --syntax-only: the scrape key file exists only inside the compose stack (/run/secrets).
    _promtool("check", "config", "--syntax-only", "prometheus.yml")
    _promtool("check", "rules", "alerts.yml")


def test_prometheus_scrapes_the_gateway_with_the_compose_secret_as_its_key() -> None:
    scrape = yaml.safe_load((MONITORING / "prometheus.yml").read_text())["scrape_configs"]
    (gateway,) = [job for job in scrape if job["job_name"] == "gateway"]
    assert gateway["authorization"] == {"type": "Bearer", "credentials_file": "/run/secrets/metrics_api_key"}
    compose = yaml.safe_load((MONITORING.parent / "docker-compose.yml").read_text())
    assert "metrics_api_key" in compose["services"]["prometheus"]["secrets"]
    assert "DATTAVANI_METRICS_KEY" in compose["services"]["gateway"]["environment"]["DATTAVANI_API_KEYS"]


def test_every_alert_has_a_passing_unit_test_and_a_runbook() -> None:
    _promtool("test", "rules", "tests/alerts_test.yml")
    rules = [
        rule for group in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"] for rule in group["rules"]
    ]
    tested = {
        case["alertname"]
        for test in yaml.safe_load((MONITORING / "tests" / "alerts_test.yml").read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    operations = (MONITORING.parent / "docs" / "operations.md").read_text().lower()
    for rule in rules:
        assert rule["alert"] in tested, f"{rule['alert']} has no firing unit test"
        anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
        assert anchor == rule["alert"].lower() and f"### {rule['alert'].lower()}" in operations


def exposed_names(gateway: GatewayProcess, triton: TritonServer) -> set[str]:
    """Metric names of real scrapes after representative traffic: a transcription and a refused upload."""
    assert post_audio(gateway, JFK.read_bytes()).status_code == 200
    assert post_audio(gateway, b"not audio").status_code == 400
    texts = [
        requests.get(f"{gateway.url}/metrics", headers=AUTH, timeout=30).text,
        requests.get(triton.settings.metrics_url, timeout=30).text,
    ]
    return {line.split("{")[0].split(" ")[0] for text in texts for line in text.splitlines() if line and line[0] != "#"}


def metric_names_in(expression: str) -> set[str]:
    without_labels = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", " ", expression)
    without_labels = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", without_labels)
    tokens = set(re.findall(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*", without_labels))  # not the e9 of 4e9
    return tokens - PROMQL_WORDS


def test_rule_expressions_name_only_metrics_a_real_scrape_exposes(
    gateway: GatewayProcess, triton: TritonServer
) -> None:
    assert post_audio(gateway, JFK.read_bytes()).status_code == 200
    exposed = exposed_names(gateway, triton) | {"up"}  # `up` is Prometheus' own
    rules = [
        rule for group in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"] for rule in group["rules"]
    ]
    for rule in rules:
        unknown = metric_names_in(rule["expr"]) - exposed
        assert not unknown, f"{rule['alert']} names metrics no scrape exposes: {unknown}"


@pytest.fixture
def prometheus(gateway: GatewayProcess, tmp_path: Path) -> Iterator[str]:
    port = free_port_block(1)
    (tmp_path / "api-key").write_text(TEST_API_KEY)
    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "gateway",
                "authorization": {"type": "Bearer", "credentials_file": str(tmp_path / "api-key")},
                "static_configs": [{"targets": [f"127.0.0.1:{gateway.port}"]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(30)


def _query(prometheus: str, expression: str) -> list[dict]:
    url = f"{prometheus}/api/v1/query?query={urllib.parse.quote(expression)}"
    try:
        body = json.loads(requests.get(url, timeout=5).text)
    except (requests.ConnectionError, json.JSONDecodeError):
        return []
    return list(body.get("data", {}).get("result", []))


def dashboard_expressions() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of every committed dashboard."""
    return [
        (panel["title"], target["expr"])
        for path in sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))
        for panel in json.loads(path.read_text())["panels"]
        for target in panel["targets"]
    ]


def test_dashboards_query_only_metrics_a_real_scrape_exposes(gateway: GatewayProcess, triton: TritonServer) -> None:
    exposed = exposed_names(gateway, triton)
    expressions = dashboard_expressions()
    assert len(expressions) >= 12
    for title, expression in expressions:
        unknown = metric_names_in(expression) - exposed
        assert not unknown, f"panel {title!r} names metrics no scrape exposes: {unknown}"


def test_dashboard_expressions_parse_in_a_real_prometheus(prometheus: str) -> None:
    for title, expression in dashboard_expressions():
        url = f"{prometheus}/api/v1/query?query={urllib.parse.quote(expression)}"
        for _ in range(100):  # the server may still be starting
            try:
                body = requests.get(url, timeout=5).json()
                break
            except (requests.ConnectionError, json.JSONDecodeError):
                time.sleep(0.2)
        assert body["status"] == "success", f"panel {title!r}: {body}"


def test_alertmanager_config_is_valid() -> None:
    result = subprocess.run(
        ["amtool", "check-config", "alertmanager.yml"], capture_output=True, text=True, cwd=MONITORING
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_provisioning_points_at_the_dashboards_and_prometheus() -> None:
    provisioning = MONITORING / "grafana" / "provisioning"
    datasource = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    assert datasource["uid"] == "prometheus" and datasource["type"] == "prometheus"
    for path in (MONITORING / "grafana" / "dashboards").glob("*.json"):
        for panel in json.loads(path.read_text())["panels"]:
            assert panel["datasource"]["uid"] == datasource["uid"]


def test_a_real_prometheus_scrapes_gateway_and_triton_series(gateway: GatewayProcess, prometheus: str) -> None:
    assert post_audio(gateway, JFK.read_bytes()).status_code == 200
    deadline = time.monotonic() + 60
    gateway_series: list[dict] = []
    triton_series: list[dict] = []
    while time.monotonic() < deadline and not (gateway_series and triton_series):
        gateway_series = _query(prometheus, 'dattavani_requests_total{route="/v1/audio/transcriptions"}')
        triton_series = _query(prometheus, 'nv_inference_count{origin="triton",model="whisper-tiny.en"}')
        time.sleep(0.5)
    assert gateway_series and float(gateway_series[0]["value"][1]) >= 1
    assert triton_series and float(triton_series[0]["value"][1]) >= 1
    assert triton_series[0]["metric"]["job"] == "gateway"
