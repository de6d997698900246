"""With debug logging and tracing on, no API key, transcript or audio byte reaches the logs or the
spans, and a request writes no file (the gateway runs in an empty directory with an empty TMPDIR)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devstack.gateway_process import GatewayProcess
from tests.audio_files import JFK, JFK_TEXT
from tests.gateway.http import post_audio
from tests.gateway.otlp_receiver import OtlpReceiver
from tests.gateway_process import TEST_API_KEY, gateway_env
from triton_server.launcher import TritonServer
from whisper_runtime.repository import DEFAULT_REPOSITORY

WRONG_KEY = "wrong-key-that-must-not-be-logged-4f1c"
PROMPT = "Kennedy inaugural address"


@pytest.fixture
def debug_gateway(
    triton: TritonServer, receiver: OtlpReceiver, tmp_path: Path
) -> Iterator[tuple[GatewayProcess, Path]]:
    workdir, scratch = tmp_path / "cwd", tmp_path / "tmp"
    workdir.mkdir()
    scratch.mkdir()
    env = gateway_env(
        triton,
        DATTAVANI_MODEL_REPOSITORY=str(DEFAULT_REPOSITORY.resolve()),
        DATTAVANI_LOG_LEVEL="DEBUG",
        DATTAVANI_OTLP_ENDPOINT=receiver.url,
        OTEL_BSP_SCHEDULE_DELAY="100",
        TMPDIR=str(scratch),
    )
    process = GatewayProcess(env, tmp_path / "gateway.log", cwd=workdir).start()
    yield process, tmp_path
    process.stop()


def _traffic(gateway: GatewayProcess) -> None:
    auth = {"Authorization": f"Bearer {TEST_API_KEY}"}
    ok = post_audio(gateway, JFK.read_bytes(), "jfk.flac", {"response_format": "verbose_json", "prompt": PROMPT})
    assert ok.status_code == 200
    streamed = post_audio(gateway, JFK.read_bytes(), "jfk.flac", {"stream": "true"})
    assert streamed.status_code == 200 and "fellow Americans" in streamed.text
    assert post_audio(gateway, JFK.read_bytes(), headers={"Authorization": f"Bearer {WRONG_KEY}"}).status_code == 401
    assert post_audio(gateway, JFK.read_bytes(), headers={"x-api-key": WRONG_KEY}).status_code == 401
    assert post_audio(gateway, JFK.read_bytes()[:5000], "cut.flac").status_code == 400
    assert requests.get(f"{gateway.url}/metrics", headers=auth, timeout=30).status_code == 200


def test_no_secret_transcript_or_audio_in_debug_logs_or_spans(
    debug_gateway: tuple[GatewayProcess, Path], receiver: OtlpReceiver
) -> None:
    gateway, tmp_path = debug_gateway
    _traffic(gateway)
    receiver.wait_for_spans(minimum=6)
    log = gateway.log()
    assert "DEBUG" in log, "the gateway should log at debug level here"
    audio = JFK.read_bytes()
    sample = audio[len(audio) // 2 : len(audio) // 2 + 48]
    forbidden = {
        "the API key": TEST_API_KEY,
        "a wrong key": WRONG_KEY,
        "the transcript": "fellow Americans",
        "the transcript, lowercased": "ask not what your country",
        "the prompt": PROMPT,
        "audio bytes (hex)": sample.hex(),
        "audio bytes (base64)": base64.b64encode(sample).decode()[:40],
    }
    raw_log = (tmp_path / "gateway.log").read_bytes()
    assert sample not in raw_log, "raw audio bytes in the log"
    attributes = repr([span.get("attributes", []) for span in receiver.spans]) + repr(
        [span.get("events", []) for span in receiver.spans]
    )
    for what, text in forbidden.items():
        assert text.lower() not in log.lower(), f"{what} in the debug log"
        assert text.lower() not in attributes.lower(), f"{what} in span attributes"
    assert JFK_TEXT.split(",")[0].lower() not in log.lower()


def _files(tmp_path: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for folder in ("cwd", "tmp") for path in (tmp_path / folder).rglob("*")}


def test_a_request_writes_no_file(debug_gateway: tuple[GatewayProcess, Path]) -> None:
    gateway, tmp_path = debug_gateway
    at_start = _files(tmp_path)  # ONNX Runtime leaves $TMPDIR/.ses when the fallback loads: not per request
    assert set(at_start) <= {tmp_path / "tmp" / ".ses"}
    _traffic(gateway)
    assert _files(tmp_path) == at_start
