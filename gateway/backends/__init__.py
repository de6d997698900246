"""Transcription backends: Triton (a pool of endpoints, each behind its own breaker, retried across them)
and the in-process CPU fallback, tried in order by a chain. A backend decodes one window (at most 30 s)
at a time; the seek loop over a whole recording (whisper_runtime.transcription) runs in the gateway for
every backend."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from whisper_runtime.decoding import DecodingResult
from whisper_runtime.window_decoder import WindowRequest


@dataclass(frozen=True)
class Deadline:
    """The moment by which a request must be answered (monotonic clock)."""

    expires_at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.expires_at - time.monotonic())


@dataclass(frozen=True)
class ComponentHealth:
    status: Literal["ok", "down"]
    message: str
    parts: dict[str, dict[str, Any]] | None = None  # e.g. each Triton endpoint's own state, for readiness

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class Served:
    """A decoded window, the backend that decoded it and the model version it ran (e.g. Triton's "2")."""

    result: DecodingResult
    backend: str
    version: str


class WindowBackend(Protocol):
    name: str

    async def decode_window(
        self, pcm: np.ndarray, window: WindowRequest | None, request_id: str, deadline: Deadline
    ) -> Served:
        """Decode one window of 16 kHz mono float32 PCM (at most 30 s) as `window` asks (None: greedy text
        without timestamps); raises BackendError on failure."""
        ...

    async def check(self) -> ComponentHealth:
        """Whether this backend can serve now (a real, small inference where that matters)."""
        ...

    async def close(self) -> None: ...


class TranscriptionBackend(WindowBackend, Protocol):
    """A backend of a model's chain (a pool of Triton endpoints, or the CPU fallback)."""

    @property
    def precisions(self) -> list[str]:
        """The precisions the model runs in here now (int8, fp32; endpoints of a pool may differ)."""
        ...
