"""One model on one Triton endpoint: per-call timeouts, request ids sent on, and the model version to serve.

Triton can hold several versions of a model at once (a rollout loads the new one beside the old:
`triton_server.rollout`). The version served is the one the model's configuration names in its
`serving_version` parameter when that version is ready, else the highest ready one; the gateway
switches to it only once it has answered a canary inference, and asks for it by number.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from gateway.backends import ComponentHealth, Deadline, Served
from gateway.errors import BackendError, BackendTimeoutError, BackendUnavailableError, VersionMovedError
from gateway.observability.tracing import outgoing_headers
from triton_server.canary import canary_request
from triton_server.client import GrpcRequest, window_request, window_result
from triton_server.versions import SERVING_VERSION_PARAMETER
from whisper_runtime.window_decoder import WindowRequest

CANARY_TIMEOUT_S = 10.0
# Reconnect quickly once Triton is back, instead of gRPC's default backoff of up to two minutes.
CHANNEL_ARGS = [("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 1000)]
# What Triton says of a version that is loading, unloading or gone while the model itself is served.
VERSION_GONE = ("is not at ready state", "is not found")


def map_triton_error(exc: InferenceServerException, model: str) -> BackendError:
    """Our error for a failed Triton call. The gateway validates audio before sending it, so an
    error from Triton is Triton's problem, not the client's."""
    status, message = str(exc.status() or ""), str(exc.message() or "")
    if "DEADLINE_EXCEEDED" in status:
        return BackendTimeoutError("Triton did not answer in time")
    if "version" in message and any(phrase in message for phrase in VERSION_GONE):
        return VersionMovedError(f"Triton no longer serves this version of {model} ({message})")
    if "NOT_FOUND" in status:  # unloaded, or never loaded: the other models are unaffected
        return BackendUnavailableError(f"Triton does not serve {model} now (not loaded)", code="model_not_loaded")
    return BackendUnavailableError(f"Triton failed the request ({status or 'no status'})")


def versions_by_state(index: dict[str, Any], model: str) -> tuple[list[str], dict[str, str]]:
    """From Triton's repository index: the ready versions of `model`, lowest first, and the versions it
    refused to load with Triton's reason (a failed load, e.g. a corrupted weight file; not an unload)."""
    entries = [entry for entry in index.get("models", []) if entry.get("name") == model and entry.get("version")]
    ready = sorted((entry["version"] for entry in entries if entry.get("state") == "READY"), key=int)
    refused = {
        entry["version"]: entry.get("reason", "")
        for entry in entries
        if entry.get("state") == "UNAVAILABLE" and entry.get("reason", "") != "unloaded"
    }
    return ready, refused


def serving_version(config: dict[str, Any]) -> str | None:
    """The version a rollout named in the model's configuration, if any."""
    parameter = config.get("parameters", {}).get(SERVING_VERSION_PARAMETER, {})
    return parameter.get("string_value") or None


class TritonBackend:
    """`model` on the Triton at gRPC address `address`, through `client` (shared by the endpoint's models)."""

    name = "triton"

    def __init__(self, client: grpcclient.InferenceServerClient, address: str, model: str, timeout_s: float) -> None:
        self.address = address
        self.version = ""  # "" until a version answered its canary: Triton's own choice
        self._refused: dict[str, str] = {}  # version -> why Triton could not load it, as its index last said
        self._client = client
        self._model = model
        self._timeout_s = timeout_s

    @property
    def refused_versions(self) -> dict[str, str]:
        """The versions Triton refused to load above the one serving (all of them while none serves): Triton keeps
        a refused version in its index until that number loads, so one a later version replaced is done."""
        return {version: why for version, why in self._refused.items() if int(version) > int(self.version or 0)}

    async def decode_window(
        self, pcm: np.ndarray, window: WindowRequest | None, request_id: str, deadline: Deadline
    ) -> Served:
        return await self._infer(self.version, window_request(pcm, window), request_id, deadline)

    async def _infer(self, version: str, request: GrpcRequest, request_id: str, deadline: Deadline) -> Served:
        timeout = min(self._timeout_s, deadline.remaining())
        if timeout <= 0:
            raise BackendTimeoutError("the request's deadline passed before Triton was called")
        inputs, outputs = request
        try:
            result = await self._client.infer(
                self._model,
                inputs,
                model_version=version,
                outputs=outputs,
                request_id=request_id,
                client_timeout=timeout,
                headers=outgoing_headers(),  # traceparent: Triton's own spans join the request's trace
            )
        except InferenceServerException as exc:
            error = map_triton_error(exc, self._model)
            if isinstance(error, VersionMovedError) and not await self._some_version_ready():
                error = BackendUnavailableError(
                    f"Triton does not serve {self._model} now (not loaded)", code="model_not_loaded"
                )
            raise error from exc
        return Served(window_result(result), self.name, version)

    async def _some_version_ready(self) -> bool:
        """Whether any version of the model is ready (else a version "not ready" means the model is unloaded)."""
        try:
            index = await self._client.get_model_repository_index(as_json=True, client_timeout=CANARY_TIMEOUT_S)
        except InferenceServerException:
            return False
        return bool(versions_by_state(index, self._model)[0])

    async def watch(self, prove: bool) -> ComponentHealth:
        """Health now: the version to serve is read from Triton every time; it is switched to once it answers a
        canary inference (half a second of silence as a partial hypothesis, `canary_request`: Triton's own readiness
        can stay 200 while a python stub is dead), and the version served is canaried too when `prove` asks (no
        request proved it lately)."""
        try:
            index = await self._client.get_model_repository_index(as_json=True, client_timeout=CANARY_TIMEOUT_S)
            config = await self._client.get_model_config(self._model, as_json=True, client_timeout=CANARY_TIMEOUT_S)
            config = config.get("config", {})
        except InferenceServerException as exc:
            return ComponentHealth("down", f"Triton at {self.address} does not answer ({exc.status()})")
        ready, self._refused = versions_by_state(index, self._model)
        if not ready:
            return ComponentHealth("down", f"no version of {self._model} is ready on {self.address}")
        named = serving_version(config)
        target = named if named in ready else ready[-1]
        if target != self.version or prove:
            try:
                await self._infer(
                    target, canary_request(), "canary", Deadline.after(min(self._timeout_s, CANARY_TIMEOUT_S))
                )
            except BackendError as exc:
                return ComponentHealth("down", f"canary inference of version {target} failed: {exc.message}")
            self.version = target
        return ComponentHealth("ok", f"version {self.version} serving")

    async def check(self) -> ComponentHealth:
        return await self.watch(prove=True)

    async def close(self) -> None:
        """Nothing: the endpoint owns the client."""
