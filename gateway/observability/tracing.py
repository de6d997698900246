"""OpenTelemetry tracing: a span per request with children for decoding, Triton and the fallback,
exported as OTLP/HTTP with the JSON encoding.

The OTLP protobuf exporter needs protobuf 5, which tritonclient 2.51 (pinned to the server's
version) forbids; OTLP/HTTP's JSON encoding carries the same data to any OTLP receiver (the
OpenTelemetry Collector, Jaeger). No audio or transcript text is ever put in a span.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Span, StatusCode

SERVICE_NAME = "dattavani-gateway"
TRACER_NAME = "gateway"
log = logging.getLogger("gateway.tracing")


def _value(value: object) -> dict[str, object]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": str(value)}


def _attributes(attributes: Mapping[str, object] | None) -> list[dict[str, object]]:
    return [{"key": key, "value": _value(value)} for key, value in (attributes or {}).items()]


def _span(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    if context is None:  # only unstarted spans lack one; the exporter gets finished spans
        raise ValueError(f"span {span.name!r} has no context")
    encoded: dict[str, Any] = {
        "traceId": f"{context.trace_id:032x}",
        "spanId": f"{context.span_id:016x}",
        "name": span.name,
        "kind": span.kind.value + 1,  # the SDK's enum starts at INTERNAL = 0, OTLP's at UNSPECIFIED = 0
        "startTimeUnixNano": str(span.start_time),
        "endTimeUnixNano": str(span.end_time),
        "attributes": _attributes(span.attributes),
        "events": [
            {"timeUnixNano": str(e.timestamp), "name": e.name, "attributes": _attributes(e.attributes)}
            for e in span.events
        ],
        "status": {"code": {StatusCode.UNSET: 0, StatusCode.OK: 1, StatusCode.ERROR: 2}[span.status.status_code]},
    }
    if span.parent is not None:
        encoded["parentSpanId"] = f"{span.parent.span_id:016x}"
    return encoded


def otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """An OTLP ExportTraceServiceRequest in its JSON encoding (ids as hex, 64-bit ints as strings)."""
    resource = spans[0].resource.attributes if spans else {}
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _attributes(resource)},
                "scopeSpans": [{"scope": {"name": TRACER_NAME}, "spans": [_span(span) for span in spans]}],
            }
        ]
    }


class OtlpJsonExporter(SpanExporter):
    """POSTs finished spans to `<endpoint>/v1/traces` as OTLP JSON."""

    def __init__(self, endpoint: str, timeout_s: float = 5.0) -> None:
        self._url = endpoint.rstrip("/") + "/v1/traces"
        self._timeout_s = timeout_s

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        # The operator's collector: the config accepts http(s) URLs only.
        request = urllib.request.Request(  # noqa: S310
            self._url,
            data=json.dumps(otlp_json(spans)).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s):  # noqa: S310  # nosec B310
                return SpanExportResult.SUCCESS
        except (urllib.error.URLError, OSError) as exc:
            log.warning("could not export %d spans to %s: %s", len(spans), self._url, exc)
            return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        pass


def tracer_for(endpoint: str | None) -> trace.Tracer:
    """A tracer exporting to `endpoint`; a no-op tracer when tracing is off (no endpoint)."""
    if not endpoint:
        return trace.NoOpTracer()
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    provider.add_span_processor(BatchSpanProcessor(OtlpJsonExporter(endpoint)))
    return provider.get_tracer(TRACER_NAME)


def incoming_context(headers: Mapping[str, str]) -> Any:
    """The client's W3C trace context (`traceparent`), if it sent one."""
    return extract(dict(headers))


def outgoing_headers() -> dict[str, str]:
    """`traceparent` (and `tracestate`) of the current span, to send on to Triton."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier


def current_span() -> Span:
    return trace.get_current_span()
