"""The gateway's Prometheus metrics, and Triton's merged into the same `/metrics`.

The gateway's own series follow Prometheus naming (`dattavani_` prefix, base units, `_total`
counters) and pass `promtool check metrics`. Triton's are scraped from its metrics port, cached
briefly, and re-exposed with their names kept verbatim and an `origin="triton"` label; when
Triton cannot be scraped its part is absent and `dattavani_triton_metrics_up` is 0.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector, generate_latest

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)


def label_origin(exposition: str, label: str = 'origin="triton"') -> str:
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
    """Triton's metrics text, scraped at most once per `ttl_s`, names verbatim, with an origin label."""

    def __init__(self, url: str, ttl_s: float = 2.0, timeout_s: float = 2.0) -> None:
        self._url = url
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
                        self.exposition = label_origin(await response.text())
                except (aiohttp.ClientError, TimeoutError):
                    self.exposition = ""
                self._scraped_at = time.monotonic()
            return bool(self.exposition)


class GatewayMetrics:
    """Every metric the gateway records, on one registry, plus Triton's (scraped from `triton_metrics_url`)."""

    def __init__(self, triton_metrics_url: str) -> None:
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
            "dattavani_circuit_breaker_open", "1 while the backend's circuit breaker (one per model) is open or "
            "half-open.", ["backend", "model"], registry=r,
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
            "dattavani_triton_metrics_up", "1 when Triton's metrics were scraped for the last /metrics.", registry=r
        )
        self.model = Info("dattavani_model", "The served models, the default and its aliases.", registry=r)
        self.triton = TritonMetrics(triton_metrics_url)

    def render(self) -> bytes:
        """The gateway's own series, then Triton's as last scraped."""
        return generate_latest(self.registry) + self.triton.exposition.encode()
