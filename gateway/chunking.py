"""OpenAI's `chunking_strategy`: only the speech of a recording is transcribed.

The field is "auto" or an object {"type": "server_vad", "threshold", "prefix_padding_ms",
"silence_duration_ms"}, sent as JSON text in the field `chunking_strategy` or flattened into
`chunking_strategy[type]`, `chunking_strategy[threshold]`, ... (as the official openai SDK sends it).
Silero VAD (whisper_runtime.vad) finds the speech spans on a thread pool of its own, the seek loop runs
over the spans laid end to end, and every segment comes back with the recording's own times.

The VAD runs here and not as a Triton model: it needs the whole recording before the first window
can be cut, its result (the spans) is what the seek loop in the gateway works from, it costs a few ms of
CPU per second of audio, and it must work the same when the in-process fallback decodes.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from pathlib import Path
from typing import Any

import numpy as np

from gateway.errors import InvalidParameterError
from gateway.form_fields import single_value
from whisper_runtime.repository import vad_model
from whisper_runtime.transcription import Segment
from whisper_runtime.vad import SpeechDetector, SpeechStream, SpeechTimeline, VadOptions

FIELD = "chunking_strategy"
FLATTENED_FIELD = re.compile(rf"^{FIELD}\[(.*)\]$")
AUTO, SERVER_VAD = "auto", "server_vad"
# OpenAI's server_vad defaults (threshold 0.5, 300 ms of audio kept before speech, 500 ms of silence
# end it); Silero's own minimum of 250 ms of speech drops clicks and bursts of noise.
SERVER_VAD_DEFAULTS = {"threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500}
MIN_SPEECH_MS = 250
MAX_MS = 60_000  # the most either duration may be: a minute
# "auto": faster-whisper's VAD filter for Whisper: only pauses of 2 s or more are cut, 400 ms kept either side.
AUTO_OPTIONS = VadOptions(threshold=0.5, min_speech_ms=MIN_SPEECH_MS, min_silence_ms=2000, speech_pad_ms=400)


def _invalid(message: str, param: str = FIELD) -> InvalidParameterError:
    """A 400 naming `param`, its message led by the field (`chunking_strategy[threshold]`: chunking_strategy)."""
    return InvalidParameterError(f"{param.split('[')[0]}: {message}", param=param)


def _shown(value: object) -> str:
    return repr(value)[:80]


def parse_chunking_strategy(fields: dict[str, list[str]]) -> VadOptions | None:
    """The VAD options a request's `chunking_strategy` asks for; None when it sends none (the whole
    recording is transcribed). Every error is a 400 naming the field at fault."""
    flattened = {match.group(1): name for name in fields if (match := FLATTENED_FIELD.match(name))}
    raw = single_value(fields, FIELD)
    if raw is not None and flattened:
        raise _invalid(f"send either {FIELD} or {FIELD}[...] fields, not both")
    if flattened:
        items = {key: (single_value(fields, name) or "", name) for key, name in flattened.items()}
        return _server_vad(items, texts=True, field=next(iter(flattened.values())))
    if raw is None or raw == "":
        return None
    if raw == AUTO:
        return AUTO_OPTIONS
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise _invalid(
            f'expected "{AUTO}" or a JSON object {{"type": "{SERVER_VAD}", ...}}, not {_shown(raw)}'
        ) from exc
    if value == AUTO:
        return AUTO_OPTIONS
    if not isinstance(value, dict):
        raise _invalid(f'expected "{AUTO}" or a JSON object {{"type": "{SERVER_VAD}", ...}}, not {_shown(raw)}')
    return server_vad_options(value, FIELD)


def server_vad_options(value: dict[str, Any], field: str) -> VadOptions:
    """The VAD options of a `server_vad` object sent as JSON in `field` (the realtime API's turn detection
    takes the same keys); errors name `field`."""
    return _server_vad({key: (item, field) for key, item in value.items()}, texts=False, field=field)


def _server_vad(items: dict[str, tuple[Any, str]], texts: bool, field: str) -> VadOptions:
    """VAD options from the object's keys, each value with the form field it came in (`texts`: as form text);
    `field` is the one to blame for what is missing."""
    unknown = sorted(set(items) - {"type", *SERVER_VAD_DEFAULTS})
    if unknown:
        key = unknown[0]
        raise _invalid(
            f"unknown key {_shown(key)}; the object takes type, {', '.join(SERVER_VAD_DEFAULTS)}", param=items[key][1]
        )
    if "type" not in items:
        raise _invalid(f'the object needs "type": "{SERVER_VAD}"', param=field)
    kind, type_field = items["type"]
    if kind != SERVER_VAD:
        raise _invalid(f'the object\'s "type" must be "{SERVER_VAD}", not {_shown(kind)}', param=type_field)
    threshold = _number(items, "threshold", texts)
    if not 0.0 <= threshold <= 1.0:
        raise _invalid(f"threshold must be a number from 0 to 1, not {threshold!r}", param=items["threshold"][1])
    padding, silence = (_milliseconds(items, key, texts) for key in ("prefix_padding_ms", "silence_duration_ms"))
    # prefix_padding_ms pads both sides of each span (Silero's speech_pad): Whisper needs a word's tail too.
    return VadOptions(threshold=threshold, min_speech_ms=MIN_SPEECH_MS, min_silence_ms=silence, speech_pad_ms=padding)


def _number(items: dict[str, tuple[Any, str]], key: str, texts: bool) -> float:
    if key not in items:
        return float(SERVER_VAD_DEFAULTS[key])
    value, field = items[key]
    if texts:
        try:
            value = float(value)
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _invalid(f"{key} must be a number, not {_shown(items[key][0])}", param=field)
    return float(value)


def _milliseconds(items: dict[str, tuple[Any, str]], key: str, texts: bool) -> int:
    if key not in items:
        return int(SERVER_VAD_DEFAULTS[key])
    value, field = items[key]
    if texts:
        value = int(value) if re.fullmatch(r"\+?\d{1,9}", value) else None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MS:
        raise _invalid(
            f"{key} must be a whole number of milliseconds from 0 to {MAX_MS}, not {_shown(items[key][0])}", field
        )
    return value


class SpeechChunker:
    """Speech detection for requests, on a thread pool of its own (ONNX Runtime releases the GIL, so the
    event loop and uploads being decoded are not held up)."""

    def __init__(self, detector: SpeechDetector, workers: int) -> None:
        self._detector = detector
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vad")

    @classmethod
    def load(cls, repository: Path, workers: int) -> SpeechChunker:
        """The VAD model the export put in `repository`; ModelFilesError when it is missing or altered."""
        return cls(SpeechDetector.load(vad_model(repository)), workers)

    async def timeline(self, pcm: np.ndarray, options: VadOptions) -> SpeechTimeline:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._detector.timeline, pcm, options)

    def stream(self) -> SpeechStream:
        """A detector of its own for a live stream (its frames pushed with `push`)."""
        return self._detector.stream()

    async def push(self, stream: SpeechStream, pcm: np.ndarray) -> np.ndarray:
        """The speech probabilities of the frames `pcm` completes in `stream`."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, stream.push, pcm)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


async def in_recording_time(segments: AsyncIterator[Segment], timeline: SpeechTimeline) -> AsyncIterator[Segment]:
    """`segments` of the speech-only audio, each with the recording's times, as they come."""
    async with aclosing(segments):  # type: ignore[type-var]  # an async generator: closed when this one is
        async for segment in segments:
            yield timeline.original_segment(segment)
