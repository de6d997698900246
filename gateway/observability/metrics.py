"""The gateway's Prometheus metrics, and Triton's merged into the same `/metrics`.

The gateway's own series follow Prometheus naming (`dattavani_` prefix, base units, `_total`
counters) and pass `promtool check metrics`. Each Triton endpoint's are scraped from its metrics port,
cached briefly, and re-exposed with their names kept verbatim and the labels `origin="triton"` and
`triton_endpoint`; when an endpoint cannot be scraped its part is absent and its
`dattavani_triton_metrics_up` is 0.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector, generate_latest

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)


def label_origin(exposition: str, label: str) -> str:
    """Prometheus text with `label` added to every sample; names, HELP and TYPE lines untouched."""
    lines = []
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            name_end = min((i for i in (line.find("{"), line.find(" ")) if i >= 0), default=len(line))
            if line[name_end : name_end + 1] == "{":
                closing = "" if line[name_end + 1 : name_end + 2] == "}" else ","
                line = f"{line[:name_end]}{{{label}{closing}{line[name_end + 1 :]}"
            else:
                line = f"{line[:name_end]}{{{label}}}{line[name_end:]}"
        lines.append(line)
    return "\n".join(lines) + "\n" if lines else ""


class TritonMetrics:
    """One Triton's metrics text, scraped at most once per `ttl_s`, names verbatim, with `label` added."""

    def __init__(self, url: str, label: str, ttl_s: float = 2.0, timeout_s: float = 2.0) -> None:
        self._url = url
        self._label = label
        self._ttl_s = ttl_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.exposition = ""
        self._scraped_at = -float("inf")
        self._lock = asyncio.Lock()

    async def refresh(self, session: aiohttp.ClientSession) -> bool:
        """Scrape Triton unless the cache is fresh; False (and no Triton series) when Triton cannot be read."""
        async with self._lock:
            if time.monotonic() - self._scraped_at >= self._ttl_s:
                try:
                    async with session.get(self._url, timeout=self._timeout) as response:
                        response.raise_for_status()
                        self.exposition = label_origin(await response.text(), self._label)
                except (aiohttp.ClientError, TimeoutError):
                    self.exposition = ""
                self._scraped_at = time.monotonic()
            return bool(self.exposition)


class GatewayMetrics:
    """Every metric the gateway records, on one registry, plus Triton's (scraped from `triton_metrics_url`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)  # process_resident_memory_bytes, process_cpu_seconds_total, ...
        # `model` is the served model a request named ("none" before it was read, or on other routes).
        self.requests = Counter(
            "dattavani_requests", "Requests answered, by route, method, status, backend and model.",
            ["route", "method", "status", "served_by", "model"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "dattavani_request_duration_seconds", "Time to answer a request.", ["route", "model"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.audio = Counter(
            "dattavani_audio_seconds", "Seconds of audio transcribed.", ["served_by", "model"], registry=r
        )
        self.errors = Counter(
            "dattavani_request_errors",
            "Error responses, by route, error code (audio decode errors among them) and model.",
            ["route", "code", "model"], registry=r,
        )  # fmt: skip
        self.running = Gauge("dattavani_requests_running", "Transcriptions being processed.", registry=r)
        self.queued = Gauge("dattavani_requests_queued", "Transcriptions waiting for a slot.", registry=r)
        self.queue_capacity = Gauge(
            "dattavani_requests_queue_capacity", "Transcriptions that may wait before 429s start.", registry=r
        )
        self.breaker_open = Gauge(
            "dattavani_circuit_breaker_open", "1 while the circuit breaker of a backend's endpoint (one per model "
            "and endpoint) is open or half-open.", ["backend", "model", "endpoint"], registry=r,
        )  # fmt: skip
        self.realtime_sessions_open = Gauge(
            "dattavani_realtime_sessions_open", "Live transcription sessions (WebSocket) open.", registry=r
        )
        self.realtime_sessions = Counter(
            "dattavani_realtime_sessions", "Live transcription sessions ended, by how they ended (client_closed, "
            "idle_timeout, refused, ...).", ["outcome"], registry=r,
        )  # fmt: skip
        self.realtime_audio = Counter(
            "dattavani_realtime_audio_received_seconds", "Seconds of live audio received.", registry=r
        )
        self.realtime_utterances = Counter(
            "dattavani_realtime_utterances", "Live utterances decoded, by model and outcome (completed, failed).",
            ["model", "outcome"], registry=r,
        )  # fmt: skip
        self.realtime_completion = Histogram(
            "dattavani_realtime_completion_seconds", "Time from the end of a live utterance (speech stopped, or "
            "the client's commit) to its completed text.", ["model"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.realtime_first_delta = Histogram(
            "dattavani_realtime_first_delta_seconds", "Time from the start of a live utterance's audio to its "
            "first partial text.", ["model"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.realtime_errors = Counter(
            "dattavani_realtime_errors", "Error events sent to live sessions, by code.", ["code"], registry=r
        )
        self.endpoint_requests = Counter(
            "dattavani_triton_endpoint_requests", "Calls to each Triton endpoint, by model and outcome (ok, or the "
            "error code).", ["endpoint", "model", "outcome"], registry=r,
        )  # fmt: skip
        self.endpoint_in_flight = Gauge(
            "dattavani_triton_endpoint_in_flight", "Calls in flight to each Triton endpoint (the balancing key).",
            ["endpoint"], registry=r,
        )  # fmt: skip
        self.endpoint_up = Gauge(
            "dattavani_triton_endpoint_up", "1 while a Triton endpoint is admitted for a model (checked and its "
            "breaker not open), 0 while it is ejected.", ["endpoint", "model"], registry=r,
        )  # fmt: skip
        self.model_version = Gauge(
            "dattavani_triton_model_version", "The version of a model each Triton endpoint serves the gateway.",
            ["endpoint", "model"], registry=r,
        )  # fmt: skip
        self.versions_refused = Gauge(
            "dattavani_triton_model_versions_refused", "Versions of a model above the one serving that a Triton "
            "endpoint failed to load (e.g. a weight file that does not match its checksum).",
            ["endpoint", "model"], registry=r,
        )  # fmt: skip
        self.backend_failures = Counter(
            "dattavani_backend_failures", "Failed backend calls, by backend, model and error code.",
            ["backend", "model", "code"], registry=r,
        )  # fmt: skip
        self.vad_audio = Counter(
            "dattavani_vad_audio_seconds", "Seconds of audio of chunking_strategy requests, by part: speech "
            "(transcribed) or dropped (no speech found).", ["part", "model"], registry=r,
        )  # fmt: skip
        self.fallback = Counter(
            "dattavani_fallback_transcriptions", "Transcriptions served by the CPU fallback.", ["model"], registry=r
        )
        self.model_load = Gauge(
            "dattavani_model_load_seconds", "Time the gateway took to load a model's in-process backend.",
            ["model", "backend"], registry=r,
        )  # fmt: skip
        self.triton_up = Gauge(
            "dattavani_triton_metrics_up", "1 when a Triton endpoint's metrics were scraped for the last /metrics.",
            ["endpoint"], registry=r,
        )  # fmt: skip
        self.model = Info("dattavani_model", "The served models, the default and its aliases.", registry=r)
        self._triton: dict[str, TritonMetrics] = {}

    async def refresh_triton(self, urls: dict[str, str], session: aiohttp.ClientSession) -> None:
        """Scrape every endpoint's metrics (`urls`: endpoint address -> metrics URL); forget vanished ones."""
        for endpoint in set(self._triton) - set(urls):
            del self._triton[endpoint]
            self.triton_up.remove(endpoint)
        for endpoint, url in urls.items():
            if endpoint not in self._triton:
                self._triton[endpoint] = TritonMetrics(url, f'origin="triton",triton_endpoint="{endpoint}"')
            self.triton_up.labels(endpoint).set(1 if await self._triton[endpoint].refresh(session) else 0)

    def render(self) -> bytes:
        """The gateway's own series, then each Triton's as last scraped."""
        return generate_latest(self.registry) + "".join(t.exposition for t in self._triton.values()).encode()
