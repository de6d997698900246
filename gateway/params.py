"""Parameters of a transcription request, validated from the form fields (OpenAI's names)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from gateway.config import GatewayConfig
from gateway.errors import InvalidParameterError, ModelNotFoundError

ResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]
RESPONSE_FORMATS: tuple[str, ...] = get_args(ResponseFormat)
ENGLISH = ("en", "english")
GRANULARITIES_FIELD = "timestamp_granularities[]"
STREAMABLE_FORMATS: tuple[ResponseFormat, ...] = ("json", "text")
TRUE, FALSE = ("true", "1"), ("false", "0")
SINGLE_VALUED = ("model", "language", "prompt", "response_format", "temperature", "stream")


@dataclass(frozen=True)
class TranscriptionParams:
    model: str
    response_format: ResponseFormat = "json"
    language: str = "en"
    prompt: str | None = None  # conditions the first window, as Whisper's initial prompt
    temperature: float = 0.0  # accepted; decoding is greedy
    stream: bool = False  # Server-Sent Events, one delta per segment (json and text formats)


def _single(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidParameterError(f"'{name}' was sent {len(values)} times; send it once", param=name)
    return values[0].strip()


def parse_params(fields: dict[str, list[str]], config: GatewayConfig) -> TranscriptionParams:
    """Validate the form fields; unknown fields are ignored, as documented in docs/api.md."""
    for name in SINGLE_VALUED:
        _single(fields, name)
    model = _single(fields, "model") or config.model_name
    if model not in config.served_model_names:
        raise ModelNotFoundError(
            f"model {model!r} is not served here; use one of {', '.join(config.served_model_names)}", param="model"
        )
    response_format = _single(fields, "response_format") or "json"
    if response_format not in RESPONSE_FORMATS:
        raise InvalidParameterError(
            f"response_format must be one of {', '.join(RESPONSE_FORMATS)}, not {response_format!r}",
            param="response_format",
        )
    language = (_single(fields, "language") or "en").lower()
    if language not in ENGLISH:
        raise InvalidParameterError(
            f"language {language!r} is not supported: {config.model_name} transcribes English only",
            code="unsupported_language",
            param="language",
        )
    temperature = _temperature(_single(fields, "temperature"))
    granularities = [value.strip() for value in fields.get(GRANULARITIES_FIELD, [])]
    if any(value not in ("segment", "word") for value in granularities):
        raise InvalidParameterError("timestamp_granularities[] takes 'segment' or 'word'", param=GRANULARITIES_FIELD)
    if "word" in granularities:
        raise InvalidParameterError(
            "word timestamps are not supported; use 'segment'", code="unsupported_parameter", param=GRANULARITIES_FIELD
        )
    if granularities and response_format != "verbose_json":
        raise InvalidParameterError(
            "timestamp_granularities[] needs response_format=verbose_json", param=GRANULARITIES_FIELD
        )
    stream = _boolean(fields, "stream")
    if stream and response_format not in STREAMABLE_FORMATS:
        raise InvalidParameterError(
            f"stream=true works with response_format {' or '.join(STREAMABLE_FORMATS)}, not {response_format}",
            code="unsupported_parameter",
            param="stream",
        )
    return TranscriptionParams(
        model=model,
        response_format=response_format,  # type: ignore[arg-type]
        language="en",
        prompt=_single(fields, "prompt") or None,
        temperature=temperature,
        stream=stream,
    )


def _boolean(fields: dict[str, list[str]], name: str) -> bool:
    raw = (_single(fields, name) or "false").lower()
    if raw not in TRUE + FALSE:
        raise InvalidParameterError(f"{name} must be true or false, not {raw!r}", param=name)
    return raw in TRUE


def _temperature(raw: str | None) -> float:
    if raw is None or raw == "":
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise InvalidParameterError(f"temperature must be a number from 0 to 1, not {raw!r}", param="temperature")
    return value
