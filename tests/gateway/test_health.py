"""Readiness lists each model's backends (Triton canary, fallback) and the system (disk, memory): ready when
every model can serve, degraded when only some can, 503 when none can or the system fails."""

from __future__ import annotations

import re
from pathlib import Path

import requests

from devstack.gateway_process import GatewayProcess
from gateway.admission import Admission
from gateway.backends import ComponentHealth
from gateway.health import readiness, system_health
from tests.gateway.http import AUTH

OK = ComponentHealth("ok", "fine")
DOWN = ComponentHealth("down", "broken")


def test_the_real_gateway_reports_each_component(gateway: GatewayProcess) -> None:
    response = requests.get(f"{gateway.url}/health/ready", headers=AUTH, timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["components"]) == {"disk", "memory"}
    assert set(body["models"]) == {"whisper-tiny.en", "whisper-base"}
    for name, model in body["models"].items():
        assert model["status"] == "ok" and set(model["backends"]) == {"triton", "fallback"}
        triton = model["backends"]["triton"]
        assert triton["message"] == f"1 of 1 Triton endpoints serve {name}"
        ((endpoint, state),) = triton["endpoints"].items()
        assert re.fullmatch(r"127\.0\.0\.1:\d+", endpoint)
        # the session's Triton serves int8 (tests/conftest.py), as its metrics say; the fallback is configured so
        assert (state["status"], state["version"], state["precision"], state["breaker"]) == (
            "ok",
            "1",
            "int8",
            "closed",
        )
        assert model["backends"]["fallback"]["message"] == "in-process model loaded (int8)"
        assert all(backend["status"] == "ok" for backend in model["backends"].values())
    assert all(component["status"] == "ok" for component in body["components"].values())
    minimal = requests.get(f"{gateway.url}/health/ready/minimal", timeout=30)  # no key: for probes
    assert (minimal.status_code, minimal.json()) == (200, {"status": "ready"})


def test_one_serving_backend_is_enough() -> None:
    status, body = readiness({"a": {"triton": DOWN, "fallback": OK}}, {"disk": OK}, Admission(1, 0, 1))
    assert (status, body["status"]) == (200, "ready")
    assert body["models"]["a"]["backends"]["triton"] == {"status": "down", "message": "broken"}


def test_a_model_that_cannot_serve_leaves_the_gateway_degraded_but_ready() -> None:
    models = {"a": {"triton": OK}, "b": {"triton": DOWN, "fallback": DOWN}}
    status, body = readiness(models, {"disk": OK}, Admission(1, 0, 1))
    assert (status, body["status"], body["models"]["a"]["status"], body["models"]["b"]["status"]) == (
        200, "degraded", "ok", "down",
    )  # fmt: skip


def test_no_serving_backend_or_a_failed_system_component_is_unavailable() -> None:
    assert readiness({"a": {"triton": DOWN, "fallback": DOWN}}, {"disk": OK}, Admission(1, 0, 1))[0] == 503
    status, body = readiness({"a": {"triton": OK}}, {"disk": DOWN, "memory": OK}, Admission(1, 0, 1))
    assert (status, body["status"], body["components"]["disk"]["status"]) == (503, "unavailable", "down")


def test_system_floors(tmp_path: Path) -> None:
    assert all(h.ok for h in system_health(tmp_path, min_free_disk_mb=1, min_available_memory_mb=1).values())
    impossible = system_health(tmp_path, min_free_disk_mb=10**12, min_available_memory_mb=10**12)
    assert not impossible["disk"].ok and not impossible["memory"].ok
    assert "MB free" in impossible["disk"].message
