"""One live transcription session: client events in, utterances found and committed, partial text
while each is spoken, final text once it is committed.

Three tasks share the session: the receiver (reads client events, feeds the audio to turn detection),
the partial decoder (re-decodes the open utterance at most every `partial_interval_s`, as a cheaper
partial hypothesis, while no final is waiting and while server_vad hears no silence at its end),
and the final decoder (decodes committed utterances whole, in commit order). Every event
goes out through `send`, one at a time, under `send_timeout_s`: a client that stops reading is cut off
rather than holding the session's memory.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web
from opentelemetry import trace
from opentelemetry.trace import Span, Tracer

from gateway.backends.chain import BackendChain
from gateway.chunking import SpeechChunker
from gateway.config import GatewayConfig
from gateway.errors import ApiError
from gateway.intake import AudioDecoder
from gateway.models import ModelCatalog
from gateway.observability.metrics import GatewayMetrics
from gateway.realtime.buffer import InputAudio
from gateway.realtime.partials import AgreedText
from gateway.realtime.protocol import (
    APPEND,
    CLEAR,
    COMMIT,
    COMPLETED,
    CONVERSATION_EVENTS,
    DELTA,
    FAILED,
    UPDATE_EVENTS,
    Dialect,
    EventIds,
    RealtimeError,
    SessionSettings,
    SessionUpdate,
    error_event,
    read_event,
    session_event,
    session_json,
)
from gateway.realtime.turns import SpeechStarted, SpeechStopped, TurnDetector
from gateway.transcriber import TranscriptionJob, WindowLog
from whisper_runtime.audio import SAMPLE_RATE
from whisper_runtime.transcription import TranscriptionOptions, full_text
from whisper_runtime.vad import SpeechStream

log = logging.getLogger("gateway.realtime")

MIN_COMMIT_MS = 100  # OpenAI's least committable audio
MAX_UTTERANCE_MS = 30_000  # Whisper's window: server_vad ends an utterance there; partials stop beyond it
MIN_PARTIAL_MS = 300  # audio too short for a useful hypothesis
IDLE_KEEP_MS = 1_000  # audio kept before a possible start of speech, beyond prefix padding


class SessionEndedError(Exception):
    """The session must end: `code` and `reason` for the close frame (None: the connection is cut)."""

    def __init__(self, outcome: str, code: int | None, reason: str = "") -> None:
        super().__init__(outcome)
        self.outcome, self.code, self.reason = outcome, code, reason


@dataclass
class Utterance:
    item_id: str
    start_ms: int
    opened_at: float  # monotonic time its first audio arrived
    text: AgreedText = field(default_factory=AgreedText)
    partial_ms: int = 0  # the audio the last partial decoded reached
    first_delta_at: float | None = None
    span: Span | None = None


@dataclass(frozen=True)
class Committed:
    utterance: Utterance
    audio: np.ndarray | bytes  # 16 kHz PCM, or a WAV file for the upload decoder (InputAudio.upload_audio)
    seconds: float
    settings: SessionSettings
    committed_at: float  # monotonic: when its end was known (speech stopped, or the commit event)


class PartialSlots:
    """Partial decodes in flight across every session, at most `limit`: past it a partial is skipped, so
    that under load the CPU goes to final texts first."""

    def __init__(self, limit: int) -> None:
        self._limit, self._taken = limit, 0

    def take(self) -> bool:
        if self._taken >= self._limit:
            return False
        self._taken += 1
        return True

    def give_back(self) -> None:
        self._taken -= 1


@dataclass(frozen=True)
class TurnDetection:
    """server_vad's state: the VAD's stream, and the utterances found in its probabilities."""

    vad: SpeechStream
    detector: TurnDetector


@dataclass(frozen=True)
class SessionServices:
    """What a session uses of the application's."""

    config: GatewayConfig
    models: ModelCatalog
    chains: dict[str, BackendChain]
    decoder: AudioDecoder
    speech: SpeechChunker
    metrics: GatewayMetrics
    tracer: Tracer
    partial_slots: PartialSlots


class EventRate:
    """A token bucket over client events: `per_second` sustained, bursts of twice that."""

    def __init__(self, per_second: int) -> None:
        self._rate, self._capacity = float(per_second), 2.0 * per_second
        self._tokens, self._at = self._capacity, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class RealtimeSession:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        services: SessionServices,
        dialect: Dialect,
        model: str,
        request_id: str,
        abort: Callable[[], None],
    ) -> None:
        self._ws, self._services, self._dialect = ws, services, dialect
        self._config = services.config
        self._request_id, self._abort = request_id, abort
        self._ids = EventIds()
        self.session_id = self._ids.session()
        self.settings = SessionSettings(model=model)
        self._audio = InputAudio(self.settings.sample_rate)
        self._turns: TurnDetection | None = None
        self._start_turn_detection()
        self._utterance: Utterance | None = None
        self._previous_item: str | None = None
        self._finals: asyncio.Queue[Committed] = asyncio.Queue()
        self._finals_busy = False
        self._wake = asyncio.Event()  # an utterance opened, or a final let one be decoded: its partial now
        self._partial: asyncio.Task[tuple[str, WindowLog]] | None = None
        self._send_lock = asyncio.Lock()
        self._rate = EventRate(self._config.realtime_max_events_per_s)
        self._ended = asyncio.get_running_loop().create_future()

    # --- sending -----------------------------------------------------------------------------------------

    async def send(self, event: dict[str, Any]) -> None:
        """Send one server event; SessionEndedError('client_not_reading') when it cannot go out in time."""
        payload = json.dumps({"event_id": self._ids.event(), **event}, ensure_ascii=False)
        async with self._send_lock:
            if self._ws.closed:
                raise SessionEndedError("client_closed", None)
            try:
                async with asyncio.timeout(self._config.realtime_send_timeout_s):
                    await self._ws.send_str(payload)
            except TimeoutError as exc:
                raise SessionEndedError("client_not_reading", None) from exc
            except ConnectionError as exc:
                raise SessionEndedError("client_closed", None) from exc

    async def send_error(self, error: ApiError, event_id: str | None = None) -> None:
        self._services.metrics.realtime_errors.labels(error.code).inc()
        await self.send(error_event(error, event_id))

    # --- the session ---------------------------------------------------------------------------------------

    async def run(self) -> SessionEndedError:
        """Serve the session until it ends; how it ended."""
        tasks = [asyncio.create_task(self._partials()), asyncio.create_task(self._final_decoder())]
        for task in tasks:
            task.add_done_callback(self._task_done)
        receiver = asyncio.create_task(self._receive())
        try:
            await self.send({"type": session_event("created", self._dialect), "session": self._session_json()})
            done, _ = await asyncio.wait([receiver, self._ended], return_when=asyncio.FIRST_COMPLETED)
            closed = self._ended.result() if self._ended in done else receiver.result()
        except SessionEndedError as closed_early:
            closed = closed_early
        except Exception:
            log.exception("realtime session %s failed", self._request_id)
            closed = SessionEndedError("internal_error", 1011, "internal error")
        finally:
            every: list[asyncio.Task[Any]] = [*tasks, receiver]
            for task in every:
                task.cancel()
            await asyncio.gather(*every, return_exceptions=True)
            self._end_open_spans()
        await self._close(closed)
        return closed

    @property
    def awaits_text(self) -> bool:
        """Whether an utterance is open, or a committed one awaits its final text."""
        return self._utterance is not None or self._final_pending

    @property
    def _final_pending(self) -> bool:
        """Whether a committed utterance is being decoded or waits to be."""
        return self._finals_busy or not self._finals.empty()

    def end(self, closed: SessionEndedError) -> None:
        """End the session from outside (the gateway shutting down)."""
        if not self._ended.done():
            self._ended.set_result(closed)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if isinstance(error, SessionEndedError):
            self.end(error)
        elif error is not None:
            log.error("realtime session %s failed", self._request_id, exc_info=error)
            self.end(SessionEndedError("internal_error", 1011, "internal error"))

    async def _close(self, closed: SessionEndedError) -> None:
        if closed.code is None:
            if not self._ws.closed:
                self._abort()
            return
        with contextlib.suppress(ConnectionError, TimeoutError):
            async with asyncio.timeout(self._config.realtime_send_timeout_s):
                await self._ws.close(code=closed.code, message=closed.reason.encode()[:120])

    async def _receive(self) -> SessionEndedError:
        idle, lifetime = self._config.realtime_idle_timeout_s, self._config.realtime_max_session_s
        try:
            async with asyncio.timeout(lifetime):
                while True:
                    try:
                        message = await self._ws.receive(timeout=idle)
                    except TimeoutError:
                        await self.send_error(
                            RealtimeError(
                                f"no event for {idle:g} s: the session is closed", code="session_idle_timeout"
                            )
                        )
                        return SessionEndedError("idle_timeout", 1008, "idle timeout")
                    if message.type == web.WSMsgType.TEXT:
                        await self._event(message.data)
                    elif message.type == web.WSMsgType.BINARY:
                        await self.send_error(
                            RealtimeError("binary frames are not events: send JSON text frames", code="invalid_frame")
                        )
                    elif message.type == web.WSMsgType.ERROR:
                        return self._receive_error(message.data)
                    else:  # CLOSE, CLOSING, CLOSED
                        return SessionEndedError("client_closed", None)
        except TimeoutError:
            await self.send_error(
                RealtimeError(f"the session reached its limit of {lifetime:g} s", code="session_expired")
            )
            return SessionEndedError("session_expired", 1008, "session expired")

    def _receive_error(self, error: object) -> SessionEndedError:
        """aiohttp has closed the socket already (1009 for an oversized frame): only the outcome is left."""
        too_big = "size" in str(error).lower()
        return SessionEndedError("frame_too_large" if too_big else "protocol_error", None)

    async def _event(self, text: str) -> None:
        event_id: str | None = None
        try:
            if not self._rate.take():
                await self.send_error(
                    RealtimeError(
                        f"more than {self._config.realtime_max_events_per_s} events a second",
                        code="rate_limit_exceeded",
                    )
                )
                raise SessionEndedError("rate_limited", 1008, "too many events")
            event = read_event(text)
            event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
            await self._dispatch(event)
        except RealtimeError as error:
            await self.send_error(error, event_id)

    async def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == APPEND:
            await self._append(event.get("audio"))
        elif kind == COMMIT:
            await self._commit_buffer()
        elif kind == CLEAR:
            await self._clear()
        elif kind in UPDATE_EVENTS:
            await self._update(event.get("session"), UPDATE_EVENTS[kind])
        elif kind in CONVERSATION_EVENTS:
            raise RealtimeError(f"{kind} belongs to conversation sessions; this is a transcription session",
                                code="unsupported_event", param="type")  # fmt: skip
        else:
            raise RealtimeError(f"unknown event type {kind[:80]!r}", code="unknown_event_type", param="type")

    # --- session settings --------------------------------------------------------------------------------

    def _session_json(self) -> dict[str, Any]:
        return session_json(self.session_id, self.settings, self._dialect)

    async def _update(self, session: object, dialect: Dialect) -> None:
        update = SessionUpdate.read(session, dialect)
        settings = update.applied_to(self.settings, self._services.models, dialect)
        if settings.sample_rate != self.settings.sample_rate:
            if self._audio.held_ms > 0 or self._utterance is not None:
                raise RealtimeError(
                    "the audio format can change only while the input audio buffer is empty (commit or clear it)",
                    code="session_update_refused",
                    param="session",
                )
            self._audio = InputAudio(settings.sample_rate, self._audio.received_ms)
        restart = (
            settings.turn_detection != self.settings.turn_detection or settings.sample_rate != self.settings.sample_rate
        )
        self.settings = settings
        if restart:  # a new detector state, from the stream's present position
            self._start_turn_detection()
        await self.send({"type": session_event("updated", dialect), "session": session_json(
            self.session_id, settings, dialect)})  # fmt: skip

    def _start_turn_detection(self) -> None:
        """Turn detection as the settings say, from the stream's present position (a new detector state)."""
        options = self.settings.turn_detection
        self._turns = None if options is None else TurnDetection(
            self._services.speech.stream(),
            TurnDetector(options, MAX_UTTERANCE_MS * SAMPLE_RATE // 1000, first=self._audio.speech.end),
        )  # fmt: skip

    # --- audio ---------------------------------------------------------------------------------------------

    async def _append(self, audio: object) -> None:
        if not isinstance(audio, str):
            raise RealtimeError('input_audio_buffer.append needs "audio": base64 PCM16', param="audio")
        try:
            pcm = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RealtimeError(f"audio is not valid base64: {exc}", code="invalid_base64", param="audio") from exc
        limit_s = self._config.realtime_max_buffer_s
        if self._audio.held_ms + len(pcm) * 500 // self._audio.rate > limit_s * 1000:
            raise RealtimeError(
                f"the input audio buffer holds its limit of {limit_s:g} s: commit or clear it (this audio was dropped)",
                code="input_audio_buffer_full",
                param="audio",
            )
        samples = self._audio.append(pcm)
        self._services.metrics.realtime_audio.inc(samples.size / SAMPLE_RATE)
        if self._turns is None:
            if self._utterance is None and self._audio.held_ms > 0:
                self._utterance = self._open(self._audio.start_ms)
            return
        probabilities = await self._services.speech.push(self._turns.vad, samples)
        for turn in self._turns.detector.push(probabilities):
            if isinstance(turn, SpeechStarted):
                await self._speech_started(turn.at * 1000 // SAMPLE_RATE)
            elif isinstance(turn, SpeechStopped) and self._utterance is not None:
                end_ms = turn.at * 1000 // SAMPLE_RATE
                await self.send({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": end_ms,
                                 "item_id": self._utterance.item_id})  # fmt: skip
                await self._commit(end_ms)
        if self._utterance is None and not self._turns.detector.open:
            self._audio.drop_before(self._audio.received_ms - self._prefix_padding_ms - IDLE_KEEP_MS)

    def _open(self, start_ms: int) -> Utterance:
        utterance = Utterance(self._ids.item(), start_ms, time.monotonic())
        self._wake.set()
        utterance.span = self._services.tracer.start_span("realtime utterance")
        utterance.span.set_attributes(
            {"dattavani.item_id": utterance.item_id, "dattavani.request_id": self._request_id}
        )
        return utterance

    @property
    def _prefix_padding_ms(self) -> int:
        """The audio kept before the start of speech (server_vad's prefix_padding_ms)."""
        return 0 if self.settings.turn_detection is None else self.settings.turn_detection.speech_pad_ms

    async def _speech_started(self, speech_ms: int) -> None:
        start_ms = max(speech_ms - self._prefix_padding_ms, self._audio.start_ms)
        self._utterance = self._open(start_ms)
        # when the audio at its start arrived (the stream is live: that much before the audio received so far)
        self._utterance.opened_at -= (self._audio.received_ms - speech_ms) / 1000
        await self.send(
            {"type": "input_audio_buffer.speech_started", "audio_start_ms": start_ms,
             "item_id": self._utterance.item_id}
        )  # fmt: skip

    async def _commit_buffer(self) -> None:
        """The client's commit: the open utterance, or all the buffer holds, ends here."""
        held = self._audio.held_ms
        if held < MIN_COMMIT_MS:
            raise RealtimeError(
                f"buffer too small: expected at least {MIN_COMMIT_MS} ms of audio, but the buffer holds {held} ms",
                code="input_audio_buffer_commit_empty",
            )
        if self._utterance is None:
            self._utterance = self._open(self._audio.start_ms)
        if self._turns is not None:
            self._turns.detector.reset()
        await self._commit(None)

    async def _commit(self, end_ms: int | None) -> None:
        """Commit the open utterance, ending at `end_ms` (None: all the audio received)."""
        utterance = self._utterance
        if utterance is None:
            return
        self._utterance = None
        if self._partial is not None:
            self._partial.cancel()  # the final decodes it whole now: no CPU for a partial of it
        audio = self._audio.upload_audio(utterance.start_ms, end_ms)
        end_ms = self._audio.received_ms if end_ms is None else end_ms
        seconds = (end_ms - utterance.start_ms) / 1000
        self._audio.drop_before(end_ms)
        await self.send({"type": "input_audio_buffer.committed", "item_id": utterance.item_id,
                         "previous_item_id": self._previous_item})  # fmt: skip
        self._previous_item = utterance.item_id
        self._finals.put_nowait(Committed(utterance, audio, seconds, self.settings, time.monotonic()))

    async def _clear(self) -> None:
        self._audio.drop_before(self._audio.received_ms)
        if self._turns is not None:
            self._turns.detector.reset()
        if self._utterance is not None and self._utterance.span is not None:
            self._utterance.span.set_attribute("dattavani.outcome", "cleared")
            self._utterance.span.end()
        self._utterance = None
        await self.send({"type": "input_audio_buffer.cleared"})

    # --- decoding ------------------------------------------------------------------------------------------

    async def _text(
        self, pcm: np.ndarray, settings: SessionSettings, span: Span | None, partial: bool = False
    ) -> tuple[str, WindowLog]:
        """The transcript of `pcm`, through the model's backend chain: as a file upload's `text`, or (`partial`)
        a cheaper hypothesis of speech still going on (`TranscriptionOptions.partial`)."""
        job = TranscriptionJob(
            self._services.chains[settings.model],
            self._services.models.models[settings.model].files.tokenizer,
            self._config.request_timeout_s,
            self._request_id,
            client_connected=lambda: not self._ws.closed,
        )
        options = TranscriptionOptions(
            timestamps=False, initial_prompt=settings.prompt, language=settings.language, partial=partial
        )
        windows = WindowLog()
        context = trace.set_span_in_context(span) if span is not None else None
        with self._services.tracer.start_as_current_span("decode", context=context):
            segments = [segment async for segment in job.segments(pcm, options, windows)]
        return full_text(segments), windows

    async def _partials(self) -> None:
        """Re-decode the open utterance's audio so far, and send what two hypotheses in a row agree on: the
        first as soon as an utterance opens, then at most one every `partial_interval_s` (start to start)."""
        interval = self._config.realtime_partial_interval_s
        began = -interval
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, began + interval - time.monotonic())):
                    await self._wake.wait()
            self._wake.clear()
            began = time.monotonic()
            utterance = self._utterance
            if utterance is None or self._final_pending:
                continue
            reached = self._audio.received_ms
            if (
                not MIN_PARTIAL_MS <= reached - utterance.start_ms <= MAX_UTTERANCE_MS
                or reached == utterance.partial_ms
                or self._tail_quiet()
            ):
                continue
            slots = self._services.partial_slots
            if not slots.take():
                continue  # the gateway is busy with other partials: this one is skipped
            pcm = self._audio.speech_pcm(utterance.start_ms)
            self._partial = asyncio.create_task(self._text(pcm, self.settings, utterance.span, partial=True))
            try:
                text, _ = await self._partial
            except asyncio.CancelledError:
                if self._partial.cancelled() and not asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    continue  # its utterance was committed: the final takes over
                raise
            except ApiError as error:
                log.info("a partial decode failed (%s); the final will be tried", error.code)
                continue
            finally:
                slots.give_back()
            utterance.partial_ms = reached
            if self._utterance is utterance:
                await self._send_delta(utterance, text)

    def _tail_quiet(self) -> bool:
        """Whether server_vad hears silence at the end of the open utterance: a partial started now could add only
        the last words before it, and should the silence run its course, the final it brings would share the CPU
        with that partial (and find the host too busy for a run at more threads)."""
        return self._turns is not None and self._turns.detector.quiet_from is not None

    async def _send_delta(self, utterance: Utterance, hypothesis: str) -> None:
        delta = utterance.text.delta(hypothesis)
        if not delta:
            return
        if utterance.first_delta_at is None:
            utterance.first_delta_at = time.monotonic()
            self._services.metrics.realtime_first_delta.labels(self.settings.model).observe(
                utterance.first_delta_at - utterance.opened_at
            )
        await self.send({"type": DELTA, "item_id": utterance.item_id, "content_index": 0, "delta": delta})

    async def _final_decoder(self) -> None:
        """Decode committed utterances whole, one at a time, in commit order."""
        metrics = self._services.metrics
        while True:
            committed = await self._finals.get()
            self._finals_busy = True
            utterance, model = committed.utterance, committed.settings.model
            span = utterance.span
            try:
                audio = committed.audio
                pcm = audio if isinstance(audio, np.ndarray) else await self._services.decoder.decode(audio)
                text, windows = await self._text(pcm, committed.settings, span)
            except ApiError as error:
                metrics.realtime_utterances.labels(model, "failed").inc()
                await self.send({"type": FAILED, "item_id": utterance.item_id, "content_index": 0,
                                 "error": error.body()["error"]})  # fmt: skip
                continue
            finally:
                self._finals_busy = False
                if self._utterance is not None:
                    self._wake.set()  # the next utterance opened while this final held its partials back
                if span is not None:
                    span.set_attribute("dattavani.audio_seconds", round(committed.seconds, 3))
                    span.end()
            metrics.realtime_utterances.labels(model, "completed").inc()
            metrics.realtime_completion.labels(model).observe(time.monotonic() - committed.committed_at)
            await self.send(
                {"type": COMPLETED, "item_id": utterance.item_id, "content_index": 0, "transcript": text,
                 "usage": {"type": "duration", "seconds": round(committed.seconds, 3)},
                 "served_by": windows.served_by, "model_version": windows.model_versions}
            )  # fmt: skip

    def _end_open_spans(self) -> None:
        if self._utterance is not None and self._utterance.span is not None:
            self._utterance.span.end()
        while not self._finals.empty():
            span = self._finals.get_nowait().utterance.span
            if span is not None:
                span.end()
