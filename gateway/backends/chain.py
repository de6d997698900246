"""The configured chain of backends of one model (e.g. Triton, then the CPU fallback), tried in order."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from opentelemetry.trace import NoOpTracer, Tracer

from gateway.backends import ComponentHealth, Deadline, Served, TranscriptionBackend
from gateway.errors import BackendError
from whisper_runtime.window_decoder import WindowRequest

log = logging.getLogger("gateway.chain")


class BackendChain:
    def __init__(
        self,
        model: str,
        backends: list[TranscriptionBackend],
        tracer: Tracer | None = None,
        on_failure: Callable[[str, str, BackendError], None] | None = None,
    ) -> None:
        """`on_failure(backend, model, error)` hears of every failed backend call."""
        if not backends:
            raise ValueError("a backend chain needs at least one backend")
        self.model = model
        self.backends = backends
        self._tracer = tracer or NoOpTracer()
        self._on_failure = on_failure

    async def decode_window(
        self, pcm: np.ndarray, window: WindowRequest | None, request_id: str, deadline: Deadline
    ) -> Served:
        """The first backend's answer that succeeds; the last failure if none does."""
        failure: BackendError | None = None
        for backend in self.backends:
            try:
                with self._tracer.start_as_current_span(f"{backend.name} decode window") as span:
                    span.set_attributes({"dattavani.backend": backend.name, "dattavani.model": self.model})
                    return await backend.decode_window(pcm, window, request_id, deadline)
            except BackendError as exc:
                log.warning(
                    "request %s: %s failed for %s (%s), trying the next backend",
                    request_id, backend.name, self.model, exc.code,
                )  # fmt: skip
                if self._on_failure is not None:
                    self._on_failure(backend.name, self.model, exc)
                failure = exc
        raise failure  # type: ignore[misc]  # the chain is never empty, so a failure was recorded

    async def health(self) -> dict[str, ComponentHealth]:
        return {backend.name: await backend.check() for backend in self.backends}

    async def close(self) -> None:
        for backend in self.backends:
            await backend.close()
