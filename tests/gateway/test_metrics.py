"""One /metrics: the gateway's own lint-clean series merged with Triton's, verbatim and labelled by origin."""

from __future__ import annotations

import re
import subprocess

import requests

from devstack.gateway_process import GatewayProcess
from tests.audio_files import JFK
from tests.gateway.http import AUTH, post_audio


def scrape(gateway: GatewayProcess) -> str:
    response = requests.get(f"{gateway.url}/metrics", headers=AUTH, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return response.text


def value(exposition: str, pattern: str) -> float:
    match = re.search(rf"^{pattern} (\S+)$", exposition, re.MULTILINE)
    assert match, pattern
    return float(match.group(1))


def test_metrics_merge_the_gateways_series_with_tritons(gateway: GatewayProcess) -> None:
    assert post_audio(gateway, JFK.read_bytes()).status_code == 200
    assert post_audio(gateway, b"not audio").status_code == 400
    text = scrape(gateway)
    route, model = 'route="/v1/audio/transcriptions"', 'model="whisper-tiny.en"'
    assert (
        value(text, rf'dattavani_requests_total{{method="POST",{model},{route},served_by="triton",status="200"}}') >= 1
    )
    assert value(text, rf'dattavani_request_errors_total{{code="not_audio",{model},{route}}}') >= 1
    assert value(text, rf'dattavani_audio_seconds_total\{{{model},served_by="triton"\}}') >= 11.0
    endpoint = r'endpoint="127\.0\.0\.1:\d+"'
    assert value(text, rf"dattavani_triton_metrics_up\{{{endpoint}\}}") == 1
    assert value(text, rf'dattavani_circuit_breaker_open\{{backend="triton",{endpoint},{model}\}}') == 0
    assert value(text, rf'dattavani_circuit_breaker_open\{{backend="triton",{endpoint},model="whisper-base"\}}') == 0
    assert value(text, rf"dattavani_triton_endpoint_up\{{{endpoint},{model}\}}") == 1
    assert value(text, rf"dattavani_triton_model_version\{{{endpoint},{model}\}}") == 1
    assert value(text, rf'dattavani_triton_endpoint_requests_total\{{{endpoint},{model},outcome="ok"\}}') >= 1
    assert value(text, rf'dattavani_model_load_seconds\{{backend="fallback",{model}\}}') > 0
    assert (
        value(
            text,
            r'nv_inference_count\{origin="triton",triton_endpoint="127\.0\.0\.1:\d+",model="whisper-tiny.en",version="1"\}',
        )
        >= 1
    )
    assert "# TYPE nv_inference_exec_count counter" in text  # Triton's names and types kept verbatim


def test_only_tritons_own_names_fail_promtool_lint(gateway: GatewayProcess) -> None:
    text = scrape(gateway)
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert problems, "expected promtool to flag Triton's native names"
    assert all(line.startswith("nv_") for line in problems), problems
