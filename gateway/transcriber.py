"""One request's transcription: the shared seek loop (whisper_runtime.transcription) driven over
the backend chain, one window at a time, segments out as soon as each window is decoded."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import numpy as np

from gateway.backends import Deadline, Served
from gateway.backends.chain import BackendChain
from whisper_runtime.tokenizer import WhisperTokenizer
from whisper_runtime.transcription import FRAMES_PER_SECOND, Segment, Transcription, TranscriptionOptions


@dataclass
class WindowLog:
    """Which backends decoded a request's windows, how many seconds of new audio each covered, and the
    spoken language (given, or detected in the first window)."""

    seconds_by_backend: dict[str, float] = field(default_factory=dict)
    versions: dict[str, None] = field(default_factory=dict)  # "backend/version", in order of first use
    windows: int = 0
    language: str | None = None

    def record(self, served: Served, seconds: float) -> None:
        self.windows += 1
        self.seconds_by_backend[served.backend] = self.seconds_by_backend.get(served.backend, 0.0) + seconds
        self.versions[f"{served.backend}/{served.version}"] = None

    @property
    def served_by(self) -> str:
        """The backends that served, in order of first use (e.g. "triton", "triton,fallback")."""
        return ",".join(self.seconds_by_backend) or "none"

    @property
    def model_versions(self) -> str:
        """The model versions that served, e.g. "triton/2", or "triton/1,triton/2" across a rollout."""
        return ",".join(self.versions) or "none"


@dataclass(frozen=True)
class TranscriptionJob:
    chain: BackendChain
    tokenizer: WhisperTokenizer
    window_timeout_s: float
    request_id: str
    client_connected: Callable[[], bool]

    async def segments(self, pcm: np.ndarray, options: TranscriptionOptions, log: WindowLog) -> AsyncIterator[Segment]:
        """Segments of `pcm`, window by window; stops early once the client has gone away.
        Each window gets `window_timeout_s` (queueing, retries and the fallback included)."""
        transcription = Transcription(pcm, self.tokenizer, options)
        while (window := transcription.next_window()) is not None and self.client_connected():
            served = await self.chain.decode_window(
                window.pcm, window.request, self.request_id, Deadline.after(self.window_timeout_s)
            )
            new_segments = transcription.accept(window, served.result)
            log.record(served, (transcription.seek - window.seek) / FRAMES_PER_SECOND)
            log.language = transcription.language
            for segment in new_segments:
                yield segment
