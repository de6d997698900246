"""The gateway's one typed configuration: defaults, then an optional TOML file, then DATTAVANI_* env vars.

Every field can be set as `DATTAVANI_<FIELD NAME IN CAPITALS>` (tuples comma-separated,
booleans as true/false/1/0/yes/no) or as `<field name> = value` in the TOML file named by
`DATTAVANI_CONFIG_FILE` (or `--config`).
"""

from __future__ import annotations

import os
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from whisper_runtime.audio import CHUNK_LENGTH

ENV_PREFIX = "DATTAVANI_"
CONFIG_FILE_ENV = "DATTAVANI_CONFIG_FILE"


class ConfigError(ValueError):
    """A configuration value is missing, malformed or out of range."""


@dataclass(frozen=True)
class GatewayConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    # Triton (gRPC) and the model it serves.
    triton_url: str = "127.0.0.1:8001"
    triton_model: str = "whisper"
    triton_timeout_s: float = 30.0
    model_name: str = "whisper-tiny.en"
    model_aliases: tuple[str, ...] = ("whisper-1",)
    # Auth: plain keys, and/or a file of SHA-256 hex digests of keys (one per line, # comments).
    api_keys: tuple[str, ...] = ()
    api_keys_file: Path | None = None
    auth_disabled: bool = False
    # Audio intake limits.
    max_upload_bytes: int = 25 * 1024 * 1024
    max_audio_seconds: float = 30.0
    decode_timeout_s: float = 10.0
    decode_workers: int = 2
    max_field_bytes: int = 4096
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        positive = ("port", "triton_timeout_s", "max_upload_bytes", "max_audio_seconds", "decode_timeout_s")
        for name in (*positive, "decode_workers", "max_field_bytes"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, not {getattr(self, name)!r}")
        if self.max_audio_seconds > CHUNK_LENGTH:
            raise ConfigError(f"max_audio_seconds is at most {CHUNK_LENGTH} (one Whisper window) for now")

    @property
    def served_model_names(self) -> tuple[str, ...]:
        return (self.model_name, *self.model_aliases)


def _convert(name: str, kind: Any, raw: Any) -> Any:
    """`raw` (a string from the environment, or a TOML value) as the field's type."""
    if get_origin(kind) in (Union, types.UnionType):
        if raw in (None, ""):
            return None
        (kind,) = [arg for arg in get_args(kind) if arg is not type(None)]
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
