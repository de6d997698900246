"""`python -m triton_server.canary --model M...`: half a second of silence through each model over gRPC, decoded
as a partial hypothesis (`triton_models.contract.canary_inputs`: a quarter of a whole window's work).

Exits 0 only when every model answers, else 1 with one line naming what failed: the liveness probe of
Triton's pods (deploy/kubernetes), since Triton's own readiness can stay 200 while a python stub is dead.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from triton_models.contract import canary_inputs
from triton_server.client import GrpcRequest, grpc_request, window_result
from whisper_runtime.audio import SAMPLE_RATE

CANARY_PCM = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)  # half a second of silence
DEFAULT_TIMEOUT_S = 10.0


def canary_request() -> GrpcRequest:
    """The gRPC inputs and outputs of a canary inference (the gateway's watch sends it too)."""
    return grpc_request(canary_inputs(CANARY_PCM))


def failed_models(url: str, models: list[str], timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[str, str]:
    """Each model that did not answer the canary within `timeout_s`, with Triton's reason."""
    inputs, outputs = canary_request()
    failures = {}
    with grpcclient.InferenceServerClient(url) as client:
        for model in models:
            try:
                window_result(client.infer(model, inputs, outputs=outputs, client_timeout=timeout_s))
            except InferenceServerException as exc:
                failures[model] = " ".join(str(exc.message() or exc).split())
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triton_server.canary", description=__doc__)
    parser.add_argument("--url", default="127.0.0.1:8001", help="Triton gRPC address")
    parser.add_argument("--model", dest="models", action="append", required=True, help="a model to check (repeat)")
    parser.add_argument("--timeout-s", type=float, default=DEFAULT_TIMEOUT_S, help="per model")
    args = parser.parse_args(argv)
    failures = failed_models(args.url, args.models, args.timeout_s)
    if failures:
        print(
            f"canary failed on {args.url}: " + "; ".join(f"{m}: {why}" for m, why in failures.items()), file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
