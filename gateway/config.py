"""The gateway's one typed configuration: defaults, then an optional TOML file, then DATTAVANI_* env vars.

Every field can be set as `DATTAVANI_<FIELD NAME IN CAPITALS>` (tuples comma-separated,
booleans as true/false/1/0/yes/no) or as `<field name> = value` in the TOML file named by
`DATTAVANI_CONFIG_FILE` (or `--config`).
"""

from __future__ import annotations

import os
import tomllib
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from whisper_runtime.repository import DEFAULT_MODEL, DEFAULT_PRECISION, DEFAULT_REPOSITORY, parse_precision

ENV_PREFIX = "DATTAVANI_"
CONFIG_FILE_ENV = "DATTAVANI_CONFIG_FILE"
T = TypeVar("T")


BACKEND_NAMES = ("triton", "fallback")
Discovery = Literal["static", "dns"]
DISCOVERY_MODES: tuple[Discovery, ...] = get_args(Discovery)
RANGE = "range"  # the metadata key of a field's range check


@dataclass(frozen=True)
class Range:
    """What a field's value must be: `description` reads as 'must be <description>'."""

    description: str
    holds: Callable[[Any], bool]


def _ranged(default: T, allowed: Range) -> T:
    return field(default=default, metadata={RANGE: allowed})


def positive(default: T) -> T:
    """A field whose value must be above zero."""
    return _ranged(default, Range("positive", lambda value: value > 0))


def non_negative(default: T) -> T:
    """A field whose value must be zero or more."""
    return _ranged(default, Range("zero or more", lambda value: value >= 0))


class ConfigError(ValueError):
    """A configuration value is missing, malformed or out of range."""


@dataclass(frozen=True)
class GatewayConfig:
    host: str = "127.0.0.1"
    port: int = positive(8080)
    # Connections the kernel queues before the gateway accepts them (bursts of new clients).
    listen_backlog: int = positive(1024)
    # Triton (gRPC host:port, one or more): each serves every Whisper model under the model's own name, and
    # each window goes to the healthy one with the fewest requests in flight. With discovery "dns" each
    # entry's name is resolved every `triton_dns_refresh_s` and every address it gives is an endpoint (a
    # Kubernetes headless Service gives one per ready pod).
    triton_url: tuple[str, ...] = ("127.0.0.1:8001",)
    triton_discovery: Discovery = "static"
    triton_dns_refresh_s: float = positive(10.0)
    triton_timeout_s: float = positive(30.0)
    # Triton's metrics, merged into /metrics: one URL per entry of triton_url, or one URL where `{host}`
    # stands for each endpoint's host (e.g. http://{host}:8002/metrics); empty: not merged.
    triton_metrics_url: tuple[str, ...] = ("http://127.0.0.1:8002/metrics",)
    # Tracing: OTLP/HTTP endpoint (e.g. http://jaeger:4318); tracing is off when unset.
    otlp_endpoint: str | None = None
    # /metrics needs a key like every route but liveness; false opens it (e.g. behind a private network).
    metrics_require_key: bool = True
    # Resilience: backends tried in order; breaker and retries around Triton.
    backends: tuple[str, ...] = ("triton", "fallback")
    # The most one 30-second window of a request may take (queueing, retries, the fallback).
    request_timeout_s: float = positive(60.0)
    breaker_fail_max: int = positive(5)
    breaker_recovery_s: float = positive(10.0)
    retry_max_tries: int = positive(3)
    retry_base_delay_s: float = 0.1
    retry_max_delay_s: float = 2.0
    # The in-process CPU fallback: the same export, loaded through whisper_runtime.
    model_repository: Path = DEFAULT_REPOSITORY
    fallback_precision: str = DEFAULT_PRECISION
    fallback_concurrency: int = positive(1)
    fallback_threads: int = positive(2)
    # Backpressure, readiness and shutdown.
    max_concurrent_requests: int = positive(8)
    max_queued_requests: int = non_negative(32)
    retry_after_s: int = positive(1)
    canary_interval_s: float = positive(5.0)
    canary_idle_s: float = positive(30.0)
    min_free_disk_mb: int = 100
    min_available_memory_mb: int = 200
    drain_grace_s: float = 0.5
    drain_timeout_s: float = positive(30.0)
    # The exported Whisper models served (each by Triton and the CPU fallback), the one a request without
    # `model` gets (unset: the first of `models`), and other names for that default (OpenAI's `whisper-1`).
    models: tuple[str, ...] = (DEFAULT_MODEL, "whisper-base")
    default_model: str | None = None
    model_aliases: tuple[str, ...] = ("whisper-1",)
    # Auth: plain keys, and/or a file of SHA-256 hex digests of keys (one per line, # comments).
    api_keys: tuple[str, ...] = ()
    api_keys_file: Path | None = None
    auth_disabled: bool = False
    # Audio intake limits.
    max_upload_bytes: int = positive(25 * 1024 * 1024)
    max_audio_seconds: float = positive(1800.0)
    decode_timeout_s: float = positive(30.0)
    decode_workers: int = positive(2)
    # Threads finding speech for `chunking_strategy` (voice activity detection), a pool of their own.
    vad_workers: int = positive(2)
    max_field_bytes: int = positive(4096)
    # The whole upload must arrive within this (slow clients would otherwise hold their slot).
    upload_timeout_s: float = positive(60.0)
    # Live transcription over WebSocket (/v1/realtime): sessions open at once (each also counts against
    # max_concurrent_requests + max_queued_requests), how long one may sit without an event and last in all,
    # the audio its input buffer may hold, the largest frame, how often an open utterance is re-decoded for
    # partial text, client events a second (bursts of twice that), and how long one server event may take
    # to go out before a client that does not read is cut off.
    realtime_max_sessions: int = positive(32)
    realtime_idle_timeout_s: float = positive(60.0)
    realtime_max_session_s: float = positive(3600.0)
    realtime_max_buffer_s: float = positive(60.0)
    realtime_max_frame_bytes: int = positive(2 * 1024 * 1024)
    realtime_partial_interval_s: float = positive(0.3)
    # Partial re-decodes in flight across all sessions; past it partials are skipped so finals get the CPU.
    realtime_max_partial_decodes: int = positive(2)
    realtime_max_events_per_s: int = positive(200)
    realtime_send_timeout_s: float = positive(10.0)
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        for setting in fields(self):
            allowed, value = setting.metadata.get(RANGE), getattr(self, setting.name)
            if allowed is not None and not allowed.holds(value):
                raise ConfigError(f"{setting.name} must be {allowed.description}, not {value!r}")
        unknown = set(self.backends) - set(BACKEND_NAMES)
        if unknown or not self.backends:
            raise ConfigError(f"backends must name some of {', '.join(BACKEND_NAMES)}, not {self.backends}")
        parse_precision(self.fallback_precision)
        if not self.models:
            raise ConfigError("models must name at least one exported model")
        if self.default_model is not None and self.default_model not in self.models:
            raise ConfigError(f"default_model {self.default_model!r} is not among models {self.models}")
        names = [*self.models, *self.model_aliases]
        if len(set(names)) != len(names):
            raise ConfigError(f"models and model_aliases must name each model once, not {names}")
        for name, url in [
            ("otlp_endpoint", self.otlp_endpoint),
            *(("triton_metrics_url", u) for u in self.triton_metrics_url),
        ]:
            if url and not url.startswith(("http://", "https://")):
                raise ConfigError(f"{name} must be an http(s) URL, not {url!r}")
        self._check_triton_endpoints()

    def _check_triton_endpoints(self) -> None:
        if self.triton_discovery not in DISCOVERY_MODES:
            raise ConfigError(
                f"triton_discovery must be one of {', '.join(DISCOVERY_MODES)}, not {self.triton_discovery!r}"
            )
        if "triton" in self.backends and not self.triton_url:
            raise ConfigError("triton_url must name at least one Triton (host:port)")
        for url in self.triton_url:
            host, sep, port = url.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ConfigError(f"triton_url entries must be host:port, not {url!r}")
        templated = len(self.triton_metrics_url) == 1 and "{host}" in self.triton_metrics_url[0]
        paired = len(self.triton_metrics_url) == len(self.triton_url) and self.triton_discovery == "static"
        if self.triton_metrics_url and not (templated or paired):
            raise ConfigError(
                "triton_metrics_url must give one URL per triton_url entry, or one URL with {host} in it "
                f"(needed with several endpoints or DNS discovery), not {self.triton_metrics_url}"
            )

    @property
    def default(self) -> str:
        """The model a request without `model` gets: `default_model`, or the first of `models`."""
        return self.default_model or self.models[0]


def _convert(name: str, kind: Any, raw: Any) -> Any:
    """`raw` (a string from the environment, or a TOML value) as the field's type."""
    if get_origin(kind) in (Union, types.UnionType):
        if raw in (None, ""):
            return None
        (kind,) = [arg for arg in get_args(kind) if arg is not type(None)]
    if get_origin(kind) is Literal:
        return str(raw)  # checked against the allowed values by GatewayConfig
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("1", "true", "yes", "on"):
                return True
            if str(raw).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if get_origin(kind) is tuple:
            items = raw if isinstance(raw, list) else str(raw).split(",")
            return tuple(str(item).strip() for item in items if str(item).strip())
        return kind(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: cannot read {raw!r} as {getattr(kind, '__name__', kind)}") from exc


def load_config(
    environ: Mapping[str, str] = os.environ, config_file: Path | None = None, **overrides: Any
) -> GatewayConfig:
    """The configuration from defaults, the TOML file, the environment, then `overrides` (CLI)."""
    hints = get_type_hints(GatewayConfig)
    known = {f.name for f in fields(GatewayConfig)}
    values: dict[str, Any] = {}
    config_file = config_file or (Path(environ[CONFIG_FILE_ENV]) if environ.get(CONFIG_FILE_ENV) else None)
    if config_file is not None:
        try:
            from_file = tomllib.loads(config_file.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {config_file}: {exc}") from exc
        unknown = set(from_file) - known
        if unknown:
            raise ConfigError(f"config file {config_file}: unknown settings {', '.join(sorted(unknown))}")
        values.update({name: _convert(name, hints[name], value) for name, value in from_file.items()})
    for name in known:
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _convert(name, hints[name], raw)
    values.update({name: value for name, value in overrides.items() if value is not None})
    return replace(GatewayConfig(), **values)
