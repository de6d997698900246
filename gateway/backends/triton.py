"""The Triton backend: one long-lived async gRPC client, a per-request timeout, request ids sent on."""

from __future__ import annotations

import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from gateway.config import GatewayConfig
from gateway.errors import ApiError, BackendTimeoutError, BackendUnavailableError

TRANSCRIPTS = "TRANSCRIPTS"


def map_triton_error(exc: InferenceServerException) -> ApiError:
    """Our API error for a failed Triton call. The gateway validates audio before sending it, so
    an error from Triton is Triton's problem, not the client's."""
    status = str(exc.status() or "")
    if "DEADLINE_EXCEEDED" in status:
        return BackendTimeoutError("Triton did not answer in time")
    return BackendUnavailableError(f"Triton failed the request ({status or 'no status'})")


class TritonBackend:
    name = "triton"

    def __init__(self, config: GatewayConfig) -> None:
        self._model = config.triton_model
        self._timeout_s = config.triton_timeout_s
        self._client = grpcclient.InferenceServerClient(config.triton_url)

    async def transcribe(self, pcm: np.ndarray, request_id: str) -> str:
        wav = grpcclient.InferInput("WAV", [1, pcm.size], "FP32")
        wav.set_data_from_numpy(pcm.reshape(1, -1))
        try:
            result = await self._client.infer(
                self._model,
                [wav],
                outputs=[grpcclient.InferRequestedOutput(TRANSCRIPTS)],
                request_id=request_id,
                client_timeout=self._timeout_s,
            )
        except InferenceServerException as exc:
            raise map_triton_error(exc) from exc
        return result.as_numpy(TRANSCRIPTS).reshape(-1)[0].decode("utf-8")

    async def is_ready(self) -> bool:
        try:
            return bool(await self._client.is_model_ready(self._model, client_timeout=2.0))
        except InferenceServerException:
            return False

    async def close(self) -> None:
        await self._client.close()
