"""Small tritonclient helpers shared by the Triton tests."""

from __future__ import annotations

import re
import urllib.request

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from triton_server.launcher import TritonServer
from whisper_runtime.repository import DEFAULT_MODEL


def http_transcribe(server: TritonServer, pcm: np.ndarray, model: str = DEFAULT_MODEL) -> str:
    with httpclient.InferenceServerClient(server.settings.http_url) as client:
        wav = httpclient.InferInput("WAV", [1, len(pcm)], "FP32")
        wav.set_data_from_numpy(pcm[None, :])
        result = client.infer(model, [wav])
    return result.as_numpy("TRANSCRIPTS").reshape(-1)[0].decode()


def grpc_infer(server: TritonServer, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """Send raw named inputs to the entry model over gRPC; raises InferenceServerException on errors."""
    with grpcclient.InferenceServerClient(server.settings.grpc_url) as client:
        tensors = []
        for name, value in inputs.items():
            tensor = grpcclient.InferInput(name, list(value.shape), _triton_dtype(value))
            tensor.set_data_from_numpy(value)
            tensors.append(tensor)
        return client.infer(DEFAULT_MODEL, tensors, client_timeout=120).as_numpy("TRANSCRIPTS")


def _triton_dtype(value: np.ndarray) -> str:
    return {np.float32: "FP32", np.float64: "FP64", np.int16: "INT16", np.int32: "INT32"}[value.dtype.type]


def metric_values(server: TritonServer, metric: str) -> dict[str, float]:
    """Values of one Triton metric by model name, read from the metrics endpoint."""
    with urllib.request.urlopen(server.settings.metrics_url, timeout=10) as response:
        text = response.read().decode()
    pattern = re.compile(rf'^{metric}{{model="([^"]+)",version="[^"]*"}} (\S+)$', re.MULTILINE)
    return {model: float(value) for model, value in pattern.findall(text)}
