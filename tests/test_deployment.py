"""The container files, checked for what can be checked without a Docker engine: every path they copy or
mount exists, every DATTAVANI_* variable is one the code reads, and ports match the code's defaults."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from gateway.config import ENV_PREFIX, GatewayConfig
from triton_models.settings import BURST_THREADS_ENV, INTRA_OP_THREADS_ENV, PRECISION_ENV
from triton_server.calibrated import CALIBRATION_RECORD_ENV, named_models
from triton_server.launcher import TritonSettings, profile_args

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = ["Dockerfile.triton", "Dockerfile.gateway"]
KNOWN_ENV = {ENV_PREFIX + f.name.upper() for f in fields(GatewayConfig)} | {
    PRECISION_ENV, INTRA_OP_THREADS_ENV, BURST_THREADS_ENV, CALIBRATION_RECORD_ENV,
}  # fmt: skip
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_every_copied_path_exists(dockerfile: str) -> None:
    for line in (ROOT / dockerfile).read_text().splitlines():
        if line.startswith("COPY") and "--from=" not in line:
            *sources, _ = line.split()[1:]
            for source in sources:
                assert (ROOT / source).exists(), f"{dockerfile}: {source} does not exist"


def _first_party_imports(files: list[Path]) -> set[str]:
    """The repository's packages that `files` import, and all that those import in turn."""
    packages = {path.name for path in ROOT.iterdir() if (path / "__init__.py").is_file()}
    found: set[str] = set()
    pending = list(files)
    while pending:
        tree = ast.parse(pending.pop().read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in {name.split(".")[0] for name in names} & packages - found:
                found.add(name)
                pending.extend((ROOT / name).rglob("*.py"))
    return found


def _copied_into_the_final_stage(dockerfile: str) -> set[str]:
    final_stage = (ROOT / dockerfile).read_text().rsplit("\nFROM ", 1)[1]
    return {line.split()[1] for line in final_stage.splitlines() if line.startswith("COPY") and "--from=" not in line}


@pytest.mark.parametrize(
    ("dockerfile", "entry_points"),
    [
        (
            "Dockerfile.triton",  # the models, and the command that calibrates them before Triton starts
            [*sorted((ROOT / "model_repository").glob("*/1/model.py")), ROOT / "triton_server" / "calibrated.py"],
        ),
        ("Dockerfile.gateway", sorted((ROOT / "gateway").rglob("*.py"))),
    ],
)
def test_each_image_carries_every_package_its_server_imports(dockerfile: str, entry_points: list[Path]) -> None:
    needed = _first_party_imports(entry_points)
    assert needed and needed <= _copied_into_the_final_stage(dockerfile), needed - _copied_into_the_final_stage(
        dockerfile
    )


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_variables_are_read_by_the_code(dockerfile: str) -> None:
    names = set(re.findall(r"\b(DATTAVANI_[A-Z0-9_]+)=", (ROOT / dockerfile).read_text()))
    assert names and names <= KNOWN_ENV, names - KNOWN_ENV


def test_gateway_image_is_non_root_with_a_healthcheck_on_liveness() -> None:
    text = (ROOT / "Dockerfile.gateway").read_text()
    assert re.search(r"^USER (?!root)\w+", text, re.MULTILINE)
    assert "HEALTHCHECK" in text and "/health/live" in text
    assert f"EXPOSE {GatewayConfig().port}" in text


def test_triton_image_exposes_the_launcher_ports_and_serves_every_model() -> None:
    text = (ROOT / "Dockerfile.triton").read_text()
    settings = TritonSettings()
    assert f"EXPOSE {settings.http_port} {settings.grpc_port} {settings.metrics_port}" in text
    models = GatewayConfig().models  # the gateway's default models: the image serves each
    assert all(f"/v2/models/{model}/ready" in text for model in models)
    assert "python_backend_stubs/3.11" in text
    assert all(f'"{arg}"' in text for arg in profile_args("fused", models))  # what the launcher runs natively


def test_triton_image_calibrates_before_it_becomes_tritonserver() -> None:
    dockerfile = (ROOT / "Dockerfile.triton").read_text().replace("\\\n", "")
    image_command = json.loads(dockerfile.split("\nCMD ", 1)[1].splitlines()[0])
    assert image_command[:4] == ["python", "-m", "triton_server.calibrated", "tritonserver"]
    assert f"{PRECISION_ENV}=" not in dockerfile.replace(f"{PRECISION_ENV}=int8 or fp32", "")  # nothing fixed
    # it calibrates the models the server loads, from the repository the server reads
    assert named_models(image_command[3:]) == (Path("/models"), set(GatewayConfig().models))


def test_compose_shows_the_gpu_profile_the_launcher_would_pick_there() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert all(f'"{arg}"' in text for arg in profile_args("pipeline", GatewayConfig().models))


def test_compose_builds_from_files_that_exist_and_mounts_files_that_exist() -> None:
    for name, service in COMPOSE["services"].items():
        if "build" in service:
            assert (ROOT / service["build"]["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert (ROOT / source).exists(), f"{name}: {source} does not exist"


def test_compose_wires_gateway_to_triton_with_names_the_code_reads() -> None:
    services = COMPOSE["services"]
    assert {"gateway", "triton", "prometheus", "alertmanager", "grafana", "jaeger"} <= set(services)
    gateway_env = services["gateway"]["environment"]
    assert set(gateway_env) <= KNOWN_ENV
    assert gateway_env["DATTAVANI_TRITON_URL"] == f"triton:{TritonSettings().grpc_port}"
    assert gateway_env["DATTAVANI_TRITON_METRICS_URL"] == f"http://triton:{TritonSettings().metrics_port}/metrics"
    assert set(services["triton"].get("environment", {})) <= KNOWN_ENV
    assert f"{GatewayConfig().port}:{GatewayConfig().port}" in services["gateway"]["ports"]


def test_prometheus_scrapes_the_compose_services_on_their_ports() -> None:
    scrape = yaml.safe_load((ROOT / "monitoring" / "prometheus.yml").read_text())["scrape_configs"]
    targets = {job["job_name"]: job["static_configs"][0]["targets"][0] for job in scrape}
    assert targets == {
        "gateway": f"gateway:{GatewayConfig().port}",
        "triton": f"triton:{TritonSettings().metrics_port}",
    }
