"""Every loaded version of a model says on Triton's metrics port which precision it runs, and the series goes
with the model when it is unloaded; the gateway reads them (`gateway.backends.endpoints.precisions_in`)."""

from __future__ import annotations

import time

import requests
import tritonclient.http as httpclient

from gateway.backends.endpoints import precisions_in
from tests.conftest import BASE
from triton_server.launcher import TritonServer
from whisper_runtime.repository import DEFAULT_MODEL


def served_precisions(server: TritonServer) -> dict[tuple[str, str], str]:
    response = requests.get(server.settings.metrics_url, timeout=10)
    response.raise_for_status()
    return precisions_in(response.text)


def precisions_once_unloaded(server: TritonServer, model: str, patience_s: float = 60.0) -> dict[tuple[str, str], str]:
    """The server's precisions once `model` no longer appears among them (Triton unloads in the background)."""
    deadline = time.monotonic() + patience_s
    precisions = served_precisions(server)
    while any(name == model for name, _ in precisions) and time.monotonic() < deadline:
        time.sleep(0.5)
        precisions = served_precisions(server)
    return precisions


def test_each_server_says_the_precision_it_runs_each_model_in(
    triton: TritonServer, triton_fp32: TritonServer, triton_pipeline: TritonServer
) -> None:
    assert served_precisions(triton) == {(DEFAULT_MODEL, "1"): "int8", (BASE, "1"): "int8"}
    assert served_precisions(triton_fp32) == {(DEFAULT_MODEL, "1"): "fp32"}
    # the pipeline's encoder and decoder say it for their Whisper model: the ensemble itself runs no code
    assert served_precisions(triton_pipeline) == {(DEFAULT_MODEL, "1"): "int8", (BASE, "1"): "int8"}


def test_an_unloaded_model_no_longer_says_a_precision(triton: TritonServer) -> None:
    with httpclient.InferenceServerClient(triton.settings.http_url) as control:
        control.unload_model(BASE)
        try:
            unloaded = precisions_once_unloaded(triton, BASE)
        finally:
            control.load_model(BASE)
    assert unloaded == {(DEFAULT_MODEL, "1"): "int8"}
    assert served_precisions(triton) == {(DEFAULT_MODEL, "1"): "int8", (BASE, "1"): "int8"}
