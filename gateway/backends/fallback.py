"""The CPU fallback of one model: its export run in-process through whisper_runtime, off the event loop."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from gateway.backends import ComponentHealth, Deadline, Served
from gateway.errors import BackendTimeoutError, FallbackUnavailableError
from whisper_runtime.engine import EngineOptions, WhisperEngine
from whisper_runtime.errors import ModelFilesError
from whisper_runtime.model_files import ModelFiles
from whisper_runtime.repository import MODEL_VERSION, Precision
from whisper_runtime.window_decoder import WindowRequest


class FallbackBackend:
    """At most `concurrency` transcriptions at a time, each on a worker thread (ONNX Runtime releases the GIL)."""

    name = "fallback"

    def __init__(
        self,
        engine: WhisperEngine | None,
        precision: Precision,
        concurrency: int,
        load_error: str = "",
        load_seconds: float | None = None,
    ) -> None:
        self._engine = engine
        self._precision = precision
        self.version = MODEL_VERSION  # the export's own version: the fallback loads what the export wrote
        self._load_error = load_error
        self.load_seconds = load_seconds
        self._slots = asyncio.Semaphore(concurrency)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fallback")

    @classmethod
    def load(cls, model: ModelFiles, options: EngineOptions, concurrency: int) -> FallbackBackend:
        """The fallback over `model`'s export; unavailable (not fatal) when its ONNX files are missing."""
        started = time.perf_counter()
        try:
            engine = WhisperEngine.load(model, options)
        except ModelFilesError as exc:
            return cls(None, options.precision, concurrency, load_error=str(exc))
        return cls(engine, options.precision, concurrency, load_seconds=time.perf_counter() - started)

    @property
    def precisions(self) -> list[str]:
        return [] if self._engine is None else [self._precision]

    async def decode_window(
        self, pcm: np.ndarray, window: WindowRequest | None, request_id: str, deadline: Deadline
    ) -> Served:
        engine = self._engine
        if engine is None:
            raise FallbackUnavailableError(f"the CPU fallback is not loaded: {self._load_error}")
        try:
            async with asyncio.timeout(deadline.remaining()):
                async with self._slots:
                    loop = asyncio.get_running_loop()
                    requests = None if window is None else [window]
                    (result,) = await loop.run_in_executor(self._pool, engine.decode_batch, [pcm], requests)
        except TimeoutError as exc:
            raise BackendTimeoutError("the CPU fallback did not finish before the request's deadline") from exc
        return Served(result, self.name, self.version)

    async def check(self) -> ComponentHealth:
        if self._engine is None:
            return ComponentHealth("down", f"not loaded: {self._load_error}")
        return ComponentHealth("ok", f"in-process model loaded ({self._precision})")

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
