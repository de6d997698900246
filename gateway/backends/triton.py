"""The Triton backend: one long-lived async gRPC client, per-call timeouts, request ids sent on."""

from __future__ import annotations

import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from gateway.backends import ComponentHealth, Deadline
from gateway.errors import BackendError, BackendTimeoutError, BackendUnavailableError
from gateway.observability.tracing import outgoing_headers
from triton_server.client import window_request, window_result
from whisper_runtime.audio import SAMPLE_RATE
from whisper_runtime.decoding import DecodingResult
from whisper_runtime.window_decoder import WindowRequest

CANARY_PCM = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)  # half a second of silence
# Reconnect quickly once Triton is back, instead of gRPC's default backoff of up to two minutes.
CHANNEL_ARGS = [("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 1000)]


def map_triton_error(exc: InferenceServerException, model: str) -> BackendError:
    """Our error for a failed Triton call. The gateway validates audio before sending it, so an
    error from Triton is Triton's problem, not the client's."""
    status = str(exc.status() or "")
    if "DEADLINE_EXCEEDED" in status:
        return BackendTimeoutError("Triton did not answer in time")
    if "NOT_FOUND" in status:  # unloaded, or never loaded: the other models are unaffected
        return BackendUnavailableError(f"Triton does not serve {model} now (not loaded)", code="model_not_loaded")
    return BackendUnavailableError(f"Triton failed the request ({status or 'no status'})")


class TritonBackend:
    name = "triton"

    def __init__(self, url: str, model: str, timeout_s: float) -> None:
        """`model` served by the Triton at gRPC address `url`; each call waits at most `timeout_s`."""
        self._model = model
        self._timeout_s = timeout_s
        self._client = grpcclient.InferenceServerClient(url, channel_args=CHANNEL_ARGS)

    async def decode_window(
        self, pcm: np.ndarray, window: WindowRequest | None, request_id: str, deadline: Deadline
    ) -> DecodingResult:
        timeout = min(self._timeout_s, deadline.remaining())
        if timeout <= 0:
            raise BackendTimeoutError("the request's deadline passed before Triton was called")
        inputs, outputs = window_request(pcm, window)
        try:
            result = await self._client.infer(
                self._model,
                inputs,
                outputs=outputs,
                request_id=request_id,
                client_timeout=timeout,
                headers=outgoing_headers(),  # traceparent: Triton's own spans join the request's trace
            )
        except InferenceServerException as exc:
            raise map_triton_error(exc, self._model) from exc
        return window_result(result)

    async def check(self) -> ComponentHealth:
        """A real inference of half a second of silence: Triton's own readiness can stay 200 while a
        python stub is dead, so only an answer proves the model serves."""
        try:
            await self.decode_window(CANARY_PCM, None, "canary", Deadline.after(min(self._timeout_s, 10.0)))
        except BackendError as exc:
            return ComponentHealth("down", f"canary inference failed: {exc.message}")
        return ComponentHealth("ok", "canary inference answered")

    async def close(self) -> None:
        await self._client.close()
