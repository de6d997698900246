"""OpenAI's realtime transcription protocol, as JSON: the session's settings read from a client's
`session.update` (GA) or `transcription_session.update` (beta), and the server events written back.

Both dialects are spoken: a client that sends `OpenAI-Beta: realtime=v1` gets the beta event names
from the start (`transcription_session.created`), any other gets the GA ones (`session.created`); each
update is answered in the dialect it came in. What is read and what is ignored is listed in docs/api.md.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass, replace
from typing import Any, Literal

from gateway.chunking import SERVER_VAD, server_vad_options
from gateway.errors import ApiError, InvalidParameterError
from gateway.models import ModelCatalog
from gateway.params import spoken_language
from whisper_runtime.vad import VadOptions

Dialect = Literal["ga", "beta"]
BETA_HEADER = "OpenAI-Beta"
SAMPLE_RATES = (24000, 16000)  # 24 kHz is OpenAI's; 16 kHz (Whisper's own) is ours
PCM_TYPE = "audio/pcm"
BETA_PCM = "pcm16"
# Keys of turn_detection that drive a model's responses in a conversation session: no meaning here.
RESPONSE_KEYS = ("create_response", "interrupt_response", "idle_timeout_ms")
DEFAULT_TURN_DETECTION = server_vad_options({"type": SERVER_VAD}, "turn_detection")


class RealtimeError(ApiError):
    """A client event the session cannot act on: sent back as an `error` event; the session goes on."""

    status = 400
    type = "invalid_request_error"
    code = "invalid_event"


@dataclass(frozen=True)
class SessionSettings:
    """What a transcription session does with the audio it is sent."""

    model: str  # a served model's name
    sample_rate: int = SAMPLE_RATES[0]
    language: str | None = None  # None: detected per utterance (multilingual models)
    prompt: str | None = None
    turn_detection: VadOptions | None = DEFAULT_TURN_DETECTION  # None: the client commits


def _object(value: object, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RealtimeError(f"{param} must be an object, not {json.dumps(value)[:80]}", param=param)
    return value


def _text(value: object, param: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RealtimeError(f"{param} must be a string, not {json.dumps(value)[:80]}", param=param)
    return value


def _sample_rate(value: object, param: str) -> int:
    """The rate an audio format names: `"pcm16"` (beta, 24 kHz) or {"type": "audio/pcm", "rate": 24000|16000}."""
    if value == BETA_PCM:
        return SAMPLE_RATES[0]
    if isinstance(value, dict) and value.get("type", PCM_TYPE) == PCM_TYPE:
        rate = value.get("rate", SAMPLE_RATES[0])
        if rate in SAMPLE_RATES and not isinstance(rate, bool):
            return int(rate)
        raise RealtimeError(
            f"{param}.rate must be one of {', '.join(map(str, SAMPLE_RATES))}, not {json.dumps(rate)[:40]}",
            code="unsupported_audio_format",
            param=f"{param}.rate",
        )
    raise RealtimeError(
        f'{param} must be {{"type": "{PCM_TYPE}", "rate": 24000 or 16000}} (or "{BETA_PCM}"): '
        f"G.711 (audio/pcmu, audio/pcma) is not supported, not {json.dumps(value)[:80]}",
        code="unsupported_audio_format",
        param=param,
    )


def _turn_detection(value: object, param: str) -> VadOptions | None:
    if value is None:
        return None
    settings = {key: item for key, item in _object(value, param).items() if key not in RESPONSE_KEYS}
    if settings.get("type") != SERVER_VAD:
        raise RealtimeError(
            f'{param}.type must be "{SERVER_VAD}" (or turn_detection null: the client commits), '
            f"not {json.dumps(settings.get('type'))[:40]}",
            code="unsupported_turn_detection",
            param=f"{param}.type",
        )
    try:
        return server_vad_options(settings, param)
    except InvalidParameterError as exc:
        raise RealtimeError(exc.message, code=exc.code, param=exc.param) from exc


@dataclass(frozen=True)
class SessionUpdate:
    """The fields an update sets (None: left as they are; turn detection may be set to None)."""

    sample_rate: int | None = None
    transcription: dict[str, Any] | None = None
    turn_detection: tuple[VadOptions | None] | None = None  # a 1-tuple when the update names it

    @classmethod
    def read(cls, session: object, dialect: Dialect) -> SessionUpdate:
        """The fields of a `session` object of either dialect; RealtimeError naming the field at fault."""
        session = _object(session, "session")
        if dialect == "ga":
            if session.get("type", "transcription") != "transcription":
                raise RealtimeError(
                    'session.type must be "transcription": this service transcribes, it has no conversation',
                    code="unsupported_session_type",
                    param="session.type",
                )
            audio = _object(session.get("audio", {}), "session.audio")
            fields = _object(audio.get("input", {}), "session.audio.input")
            names = {"format": "format", "transcription": "transcription", "turn_detection": "turn_detection"}
            prefix = "session.audio.input."
        else:
            fields = session
            names = {
                "format": "input_audio_format",
                "transcription": "input_audio_transcription",
                "turn_detection": "turn_detection",
            }
            prefix = "session."
        update = cls()
        if (raw := fields.get(names["format"])) is not None:
            update = replace(update, sample_rate=_sample_rate(raw, prefix + names["format"]))
        if (raw := fields.get(names["transcription"])) is not None:
            update = replace(update, transcription=_object(raw, prefix + names["transcription"]))
        if names["turn_detection"] in fields:
            detection = _turn_detection(fields[names["turn_detection"]], prefix + names["turn_detection"])
            update = replace(update, turn_detection=(detection,))
        return update

    def applied_to(self, settings: SessionSettings, models: ModelCatalog, dialect: Dialect) -> SessionSettings:
        """`settings` with this update's fields; the model and language checked against what is served."""
        if self.sample_rate is not None:
            settings = replace(settings, sample_rate=self.sample_rate)
        if self.turn_detection is not None:
            settings = replace(settings, turn_detection=self.turn_detection[0])
        if self.transcription is not None:
            param = "session.audio.input.transcription" if dialect == "ga" else "session.input_audio_transcription"
            requested = _text(self.transcription.get("model"), f"{param}.model")
            try:
                model = models.resolve(requested) if requested is not None else models.models[settings.model]
                language = spoken_language(
                    _text(self.transcription.get("language"), f"{param}.language"), model, f"{param}.language"
                )
            except ApiError as exc:
                raise RealtimeError(exc.message, code=exc.code, param=exc.param or f"{param}.model") from exc
            prompt = _text(self.transcription.get("prompt"), f"{param}.prompt")
            settings = replace(settings, model=model.name, language=language, prompt=prompt)
        return settings


def _turn_detection_json(options: VadOptions | None) -> dict[str, Any] | None:
    if options is None:
        return None
    return {
        "type": SERVER_VAD,
        "threshold": options.threshold,
        "prefix_padding_ms": options.speech_pad_ms,
        "silence_duration_ms": options.min_silence_ms,
    }


def session_json(session_id: str, settings: SessionSettings, dialect: Dialect) -> dict[str, Any]:
    """The session as the created/updated events show it, in `dialect`'s shape."""
    transcription = {"model": settings.model, "language": settings.language, "prompt": settings.prompt or ""}
    turn_detection = _turn_detection_json(settings.turn_detection)
    if dialect == "beta":
        return {
            "id": session_id,
            "object": "realtime.transcription_session",
            "input_audio_format": BETA_PCM if settings.sample_rate == SAMPLE_RATES[0] else _format(settings),
            "input_audio_transcription": transcription,
            "turn_detection": turn_detection,
            "input_audio_noise_reduction": None,
            "include": [],
        }
    return {
        "type": "transcription",
        "object": "realtime.transcription_session",
        "id": session_id,
        "audio": {
            "input": {
                "format": _format(settings),
                "transcription": transcription,
                "turn_detection": turn_detection,
                "noise_reduction": None,
            }
        },
        "include": [],
    }


def _format(settings: SessionSettings) -> dict[str, Any]:
    return {"type": PCM_TYPE, "rate": settings.sample_rate}


def session_event(kind: Literal["created", "updated"], dialect: Dialect) -> str:
    return f"{'transcription_session' if dialect == 'beta' else 'session'}.{kind}"


UPDATE_EVENTS: dict[str, Dialect] = {"session.update": "ga", "transcription_session.update": "beta"}
APPEND, COMMIT, CLEAR = "input_audio_buffer.append", "input_audio_buffer.commit", "input_audio_buffer.clear"
# Client events of OpenAI's conversation sessions: known, but without meaning for transcription.
CONVERSATION_EVENTS = frozenset(
    {
        "conversation.item.create",
        "conversation.item.retrieve",
        "conversation.item.truncate",
        "conversation.item.delete",
        "response.create",
        "response.cancel",
        "output_audio_buffer.clear",
    }
)
DELTA = "conversation.item.input_audio_transcription.delta"
COMPLETED = "conversation.item.input_audio_transcription.completed"
FAILED = "conversation.item.input_audio_transcription.failed"


def read_event(text: str) -> dict[str, Any]:
    """A client frame as an event object with a string `type`; RealtimeError when it is not one."""
    try:
        event = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise RealtimeError(f"the frame is not JSON: {exc}", code="invalid_json") from exc
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise RealtimeError('a client event must be a JSON object with a string "type"', param="type")
    return event


class EventIds:
    """Ids for a session's events and items: `event_<n>`, `item_<hex>`."""

    def __init__(self) -> None:
        self._events = itertools.count(1)

    def event(self) -> str:
        return f"event_{next(self._events)}"

    @staticmethod
    def item() -> str:
        return f"item_{uuid.uuid4().hex[:24]}"

    @staticmethod
    def session() -> str:
        return f"sess_{uuid.uuid4().hex[:24]}"


def error_event(error: ApiError, event_id: str | None = None) -> dict[str, Any]:
    """An `error` server event; `event_id` names the client event at fault (when it had one)."""
    body = error.body()["error"]
    return {"type": "error", "error": {**body, "event_id": event_id}}
