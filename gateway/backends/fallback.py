"""The CPU fallback: the exported int8 model run in-process through whisper_runtime, off the event loop."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from gateway.backends import ComponentHealth, Deadline
from gateway.errors import BackendTimeoutError, FallbackUnavailableError
from whisper_runtime.decoding import DecodingResult
from whisper_runtime.engine import EngineOptions, WhisperEngine
from whisper_runtime.errors import ModelFilesError
from whisper_runtime.prompts import Prompt


class FallbackBackend:
    """At most `concurrency` transcriptions at a time, each on a worker thread (ONNX Runtime releases the GIL)."""

    name = "fallback"

    def __init__(self, engine: WhisperEngine | None, concurrency: int, load_error: str = "") -> None:
        self._engine = engine
        self._load_error = load_error
        self._slots = asyncio.Semaphore(concurrency)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fallback")

    @classmethod
    def load(cls, repository: Path, options: EngineOptions, concurrency: int) -> FallbackBackend:
        """The fallback over the export in `repository`; unavailable (not fatal) when the export is missing."""
        try:
            engine = WhisperEngine.load(repository, options)
        except ModelFilesError as exc:
            return cls(None, concurrency, load_error=str(exc))
        return cls(engine, concurrency)

    async def decode_window(
        self, pcm: np.ndarray, prompt: Prompt | None, request_id: str, deadline: Deadline
    ) -> DecodingResult:
        engine = self._engine
        if engine is None:
            raise FallbackUnavailableError(f"the CPU fallback is not loaded: {self._load_error}")
        try:
            async with asyncio.timeout(deadline.remaining()):
                async with self._slots:
                    loop = asyncio.get_running_loop()
                    prompts = None if prompt is None else [prompt]
                    (result,) = await loop.run_in_executor(self._pool, engine.decode_batch, [pcm], None, prompts)
        except TimeoutError as exc:
            raise BackendTimeoutError("the CPU fallback did not finish before the request's deadline") from exc
        return result

    async def check(self) -> ComponentHealth:
        if self._engine is None:
            return ComponentHealth("down", f"not loaded: {self._load_error}")
        return ComponentHealth("ok", "in-process model loaded")

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
