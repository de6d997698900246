"""Transcription backends: what the gateway sends PCM to (Triton; a CPU fallback comes next)."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class TranscriptionBackend(Protocol):
    name: str

    async def transcribe(self, pcm: np.ndarray, request_id: str) -> str:
        """Text of one clip of 16 kHz mono float32 PCM (at most 30 s)."""
        ...

    async def is_ready(self) -> bool: ...

    async def close(self) -> None: ...
