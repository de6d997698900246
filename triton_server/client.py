"""Talking to a served Whisper model: one window per request, with its decoder prompt.

`window_request` (through `grpc_request`, which canaries use too) and `window_result` build and read the tensors
for the sync client here and for the gateway's async client alike. `python -m triton_server.client FILE...` transcribes
audio files of any length with Triton directly, through the same seek loop as the gateway.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import np_to_triton_dtype

from triton_models import contract
from whisper_runtime.audio import decode_audio
from whisper_runtime.decoding import DecodingResult
from whisper_runtime.model_files import ModelFiles
from whisper_runtime.repository import DEFAULT_MODEL, DEFAULT_REPOSITORY
from whisper_runtime.transcription import TranscriptionOptions, Window, full_text, transcribe
from whisper_runtime.window_decoder import WindowRequest

GrpcRequest = tuple[list[grpcclient.InferInput], list[grpcclient.InferRequestedOutput]]


def grpc_request(tensors: Mapping[str, np.ndarray]) -> GrpcRequest:
    """Inputs of `tensors` (contract's names), and the decoding outputs requested."""
    inputs = []
    for name, value in tensors.items():
        tensor = grpcclient.InferInput(name, list(value.shape), np_to_triton_dtype(value.dtype))
        tensor.set_data_from_numpy(value)
        inputs.append(tensor)
    return inputs, [grpcclient.InferRequestedOutput(name) for name in contract.DECODING_OUTPUTS]


def window_request(pcm: np.ndarray, window: WindowRequest | None = None) -> GrpcRequest:
    """Inputs and requested outputs for one clip of at most 30 s (no request: greedy text without timestamps)."""
    return grpc_request(contract.window_inputs(pcm, window))


def window_result(result: grpcclient.InferResult) -> DecodingResult:
    (decoded,) = contract.decoding_results({name: result.as_numpy(name) for name in contract.DECODING_OUTPUTS})
    return decoded


def transcribe_clip(client: grpcclient.InferenceServerClient, pcm: np.ndarray, model: str = DEFAULT_MODEL) -> str:
    """Text of one clip of at most 30 s, without timestamps: the quickest request."""
    inputs, outputs = window_request(pcm)
    return window_result(client.infer(model, inputs, outputs=outputs)).text


def decode_window(
    client: grpcclient.InferenceServerClient, window: Window, model: str = DEFAULT_MODEL
) -> DecodingResult:
    inputs, outputs = window_request(window.pcm, window.request)
    return window_result(client.infer(model, inputs, outputs=outputs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triton_server.client", description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--url", default="127.0.0.1:8001", help="Triton gRPC address")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"served Whisper model (default {DEFAULT_MODEL})")
    parser.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY, help="for the tokenizer")
    args = parser.parse_args(argv)
    tokenizer = ModelFiles.load(args.repository, args.model).tokenizer
    with grpcclient.InferenceServerClient(args.url) as client:
        for file in args.files:
            segments = transcribe(
                decode_audio(file),
                tokenizer,
                lambda window: decode_window(client, window, args.model),
                TranscriptionOptions(),
            )
            print(f"{file}: {full_text(list(segments))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
