"""Parameters of a transcription or translation request, validated from the form fields (OpenAI's names)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from gateway.chunking import parse_chunking_strategy
from gateway.errors import InvalidParameterError
from gateway.form_fields import single_value
from gateway.models import ModelCatalog, ServedModel
from whisper_runtime.languages import ENGLISH, Task, UnknownLanguageError, language_code
from whisper_runtime.vad import VadOptions

ResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]
RESPONSE_FORMATS: tuple[str, ...] = get_args(ResponseFormat)
GRANULARITIES_FIELD = "timestamp_granularities[]"
STREAMABLE_FORMATS: tuple[ResponseFormat, ...] = ("json", "text")
TRUE, FALSE = ("true", "1"), ("false", "0")
SINGLE_VALUED = ("model", "language", "prompt", "response_format", "temperature", "seed", "stream")
GRANULARITIES = ("segment", "word")
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class TranscriptionParams:
    model: ServedModel
    task: Task = "transcribe"
    response_format: ResponseFormat = "json"
    language: str | None = None  # None: detected in the first window (multilingual models)
    prompt: str | None = None  # conditions the first window, as Whisper's initial prompt
    temperature: float = 0.0  # the first temperature of each window (0: greedy, then Whisper's fallback)
    seed: int = 0  # the sampling's seed (ours, not OpenAI's): the same request gives the same text
    word_timestamps: bool = False  # timestamp_granularities[] holds "word"
    stream: bool = False  # Server-Sent Events, one delta per segment (json and text formats)
    chunking: VadOptions | None = None  # chunking_strategy: only the speech VAD finds (None: the whole recording)


def parse_params(fields: dict[str, list[str]], models: ModelCatalog, task: Task = "transcribe") -> TranscriptionParams:
    """Validate the form fields of a request for `task`; unknown fields are ignored, as documented in docs/api.md."""
    for name in SINGLE_VALUED:
        single_value(fields, name)
    model = models.resolve(single_value(fields, "model") or None)
    if task == "translate" and not model.multilingual:
        raise InvalidParameterError(
            f"{model.name} is an English-only model and cannot translate; use a multilingual model "
            f"({', '.join(name for name, served in models.models.items() if served.multilingual) or 'none is served'})",
            code="translation_not_supported",
            param="model",
        )
    response_format = single_value(fields, "response_format") or "json"
    if response_format not in RESPONSE_FORMATS:
        raise InvalidParameterError(
            f"response_format must be one of {', '.join(RESPONSE_FORMATS)}, not {response_format!r}",
            param="response_format",
        )
    language = spoken_language(single_value(fields, "language") or None, model)
    temperature = _temperature(single_value(fields, "temperature"))
    granularities = [value.strip() for value in fields.get(GRANULARITIES_FIELD, [])]
    unknown = [value for value in granularities if value not in GRANULARITIES]
    if unknown:
        raise InvalidParameterError(
            f"timestamp_granularities[] takes 'segment' and/or 'word', not {unknown[0]!r}", param=GRANULARITIES_FIELD
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
        prompt=single_value(fields, "prompt") or None,
        temperature=temperature,
        seed=_seed(single_value(fields, "seed")),
        word_timestamps="word" in granularities,
        stream=stream,
        chunking=parse_chunking_strategy(fields),
    )


def spoken_language(raw: str | None, model: ServedModel, param: str = "language") -> str | None:
    """The code of the language asked for (None: detect it); 400 for a language Whisper lacks or the model."""
    if raw is None:
        return None
    try:
        code = language_code(raw)
    except UnknownLanguageError as exc:
        raise InvalidParameterError(str(exc), code=exc.code, param=param) from exc
    if code != ENGLISH and not model.multilingual:
        raise InvalidParameterError(
            f"language {raw!r} is not supported: {model.name} transcribes English only",
            code="unsupported_language",
            param=param,
        )
    return code


def _boolean(fields: dict[str, list[str]], name: str) -> bool:
    raw = (single_value(fields, name) or "false").lower()
    if raw not in TRUE + FALSE:
        raise InvalidParameterError(f"{name} must be true or false, not {raw!r}", param=name)
    return raw in TRUE


def _seed(raw: str | None) -> int:
    if raw is None or raw == "":
        return 0
    if not raw.isdigit() or int(raw) > MAX_SEED:
        raise InvalidParameterError(f"seed must be an integer from 0 to {MAX_SEED}, not {raw!r}", param="seed")
    return int(raw)


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
