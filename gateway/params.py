"""Parameters of a transcription or translation request, validated from the form fields (OpenAI's names)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from gateway.errors import InvalidParameterError
from gateway.models import ModelCatalog, ServedModel
from whisper_runtime.languages import ENGLISH, Task, UnknownLanguageError, language_code

ResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]
RESPONSE_FORMATS: tuple[str, ...] = get_args(ResponseFormat)
GRANULARITIES_FIELD = "timestamp_granularities[]"
STREAMABLE_FORMATS: tuple[ResponseFormat, ...] = ("json", "text")
TRUE, FALSE = ("true", "1"), ("false", "0")
SINGLE_VALUED = ("model", "language", "prompt", "response_format", "temperature", "stream")


@dataclass(frozen=True)
class TranscriptionParams:
    model: ServedModel
    task: Task = "transcribe"
    response_format: ResponseFormat = "json"
    language: str | None = None  # None: detected in the first window (multilingual models)
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


def parse_params(fields: dict[str, list[str]], models: ModelCatalog, task: Task = "transcribe") -> TranscriptionParams:
    """Validate the form fields of a request for `task`; unknown fields are ignored, as documented in docs/api.md."""
    for name in SINGLE_VALUED:
        _single(fields, name)
    model = models.resolve(_single(fields, "model") or None)
    if task == "translate" and not model.multilingual:
        raise InvalidParameterError(
            f"{model.name} is an English-only model and cannot translate; use a multilingual model "
            f"({', '.join(name for name, served in models.models.items() if served.multilingual) or 'none is served'})",
            code="translation_not_supported",
            param="model",
        )
    response_format = _single(fields, "response_format") or "json"
    if response_format not in RESPONSE_FORMATS:
        raise InvalidParameterError(
            f"response_format must be one of {', '.join(RESPONSE_FORMATS)}, not {response_format!r}",
            param="response_format",
        )
    language = _language(_single(fields, "language") or None, model)
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
        task=task,
        response_format=response_format,  # type: ignore[arg-type]
        language=language,
        prompt=_single(fields, "prompt") or None,
        temperature=temperature,
        stream=stream,
    )


def _language(raw: str | None, model: ServedModel) -> str | None:
    """The code of the language asked for (None: detect it); 400 for a language Whisper lacks or the model."""
    if raw is None:
        return None
    try:
        code = language_code(raw)
    except UnknownLanguageError as exc:
        raise InvalidParameterError(str(exc), code=exc.code, param="language") from exc
    if code != ENGLISH and not model.multilingual:
        raise InvalidParameterError(
            f"language {raw!r} is not supported: {model.name} transcribes English only",
            code="unsupported_language",
            param="language",
        )
    return code


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
