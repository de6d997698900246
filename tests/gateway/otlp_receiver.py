"""A real OTLP/HTTP endpoint for tests: keeps every span the gateway exports (JSON encoding)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from triton_server.launcher import free_port_block


class OtlpReceiver:
    """An OTLP/HTTP endpoint that keeps every span it is sent (JSON encoding)."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                for resource in body["resourceSpans"]:
                    for scope in resource["scopeSpans"]:
                        receiver.spans.extend(scope["spans"])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port_block(1)), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def trace(self, trace_id: str, names: set[str], timeout_s: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            spans = [s for s in self.spans if s["traceId"] == trace_id]
            if names <= {s["name"] for s in spans}:
                return spans
            time.sleep(0.1)
        raise AssertionError(f"trace {trace_id} lacks {names - {s['name'] for s in spans}}")

    def wait_for_spans(self, minimum: int, timeout_s: float = 20) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.spans) < minimum and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(self.spans) >= minimum, f"only {len(self.spans)} spans arrived"

    def close(self) -> None:
        self._server.shutdown()
