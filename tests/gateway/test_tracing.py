"""Tracing: one trace per request, with decode, backend and fallback spans, continuing the client's
`traceparent`, exported as OTLP/HTTP to a real receiver; no audio or transcript in any attribute."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from devstack.gateway_process import GatewayProcess
from tests.audio_files import JFK, JFK_TEXT
from tests.gateway.http import AUTH, post_audio
from tests.gateway.otlp_receiver import OtlpReceiver
from tests.gateway_process import TEST_API_KEY
from triton_server.launcher import TritonServer, free_port_block, tracing_args

CLIENT_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN_ID = "00f067aa0ba902b7"


def traced_gateway(receiver: OtlpReceiver, triton_url: str, tmp_path: Path) -> GatewayProcess:
    env = {
        "DATTAVANI_TRITON_URL": triton_url,
        "DATTAVANI_API_KEYS": TEST_API_KEY,
        "DATTAVANI_OTLP_ENDPOINT": receiver.url,
        "DATTAVANI_RETRY_MAX_TRIES": "2",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    return GatewayProcess(env, tmp_path / "gateway.log").start()


def root_of(spans: list[dict[str, Any]]) -> dict[str, Any]:
    (root,) = [s for s in spans if s["name"] == "POST /v1/audio/transcriptions"]
    return root


def assert_no_content_in(spans: list[dict[str, Any]]) -> None:
    text = json.dumps(spans).lower()
    assert "americans" not in text and "your country" not in text and JFK_TEXT.lower() not in text


def test_a_request_with_traceparent_continues_the_clients_trace(
    receiver: OtlpReceiver, triton: TritonServer, tmp_path: Path
) -> None:
    gateway = traced_gateway(receiver, triton.settings.grpc_url, tmp_path)
    try:
        traceparent = f"00-{CLIENT_TRACE_ID}-{CLIENT_SPAN_ID}-01"
        response = post_audio(gateway, JFK.read_bytes(), headers={**AUTH, "traceparent": traceparent})
        assert response.status_code == 200
        spans = receiver.trace(
            CLIENT_TRACE_ID, {"POST /v1/audio/transcriptions", "decode audio", "triton decode window"}
        )
        root = root_of(spans)
        assert root["parentSpanId"] == CLIENT_SPAN_ID
        assert root["kind"] == 2  # SERVER
        children = [s for s in spans if s is not root]
        assert all(s["parentSpanId"] == root["spanId"] for s in children)
        attributes = {a["key"]: a["value"] for a in root["attributes"]}
        assert attributes["http.response.status_code"] == {"intValue": "200"}
        assert attributes["dattavani.served_by"] == {"stringValue": "triton"}
        assert attributes["dattavani.model"] == {"stringValue": "whisper-tiny.en"}
        assert attributes["dattavani.language"] == {"stringValue": "en"}  # the language, never the text
        assert_no_content_in(spans)

        untraced = post_audio(gateway, JFK.read_bytes())
        assert untraced.status_code == 200
        deadline = time.monotonic() + 20
        while len({s["traceId"] for s in receiver.spans if s["name"].startswith("POST")}) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        trace_ids = {s["traceId"] for s in receiver.spans if s["name"].startswith("POST")}
        assert len(trace_ids) == 2, "one trace per request"
    finally:
        gateway.stop()


def test_an_ejected_triton_is_skipped_and_the_fallback_has_its_span(receiver: OtlpReceiver, tmp_path: Path) -> None:
    closed_port = free_port_block(1)
    gateway = traced_gateway(receiver, f"127.0.0.1:{closed_port}", tmp_path)
    try:
        traceparent = f"00-{CLIENT_TRACE_ID}-{CLIENT_SPAN_ID}-01"
        response = post_audio(gateway, JFK.read_bytes(), headers={**AUTH, "traceparent": traceparent})
        assert response.status_code == 200 and response.headers["X-Served-By"] == "fallback"
        spans = receiver.trace(CLIENT_TRACE_ID, {"triton decode window", "fallback decode window"})
        (triton_span,) = [s for s in spans if s["name"] == "triton decode window"]
        # The endpoint failed its check at start, so it is not called (nor retried): the span says why.
        (event,) = triton_span["events"]
        attributes = {a["key"]: a["value"].get("stringValue") for a in event["attributes"]}
        assert event["name"] == "exception" and "every one is ejected" in attributes["exception.message"]
        assert triton_span["status"]["code"] == 2  # ERROR
        assert_no_content_in(spans)
    finally:
        gateway.stop()


def test_tracing_is_off_without_an_endpoint_and_triton_joins_when_one_is_set() -> None:
    assert tracing_args(None) == []
    args = tracing_args("http://collector:4318/")
    assert "--trace-config=mode=opentelemetry" in args
    assert "--trace-config=opentelemetry,url=http://collector:4318/v1/traces" in args
