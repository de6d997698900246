"""`python -m triton_server.client FILE...`: transcribe audio files with Triton directly (tritonclient gRPC)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient

from whisper_runtime.audio import decode_audio
from whisper_runtime.repository import ENTRY_MODEL


def transcribe(client: grpcclient.InferenceServerClient, pcm: np.ndarray, model: str = ENTRY_MODEL) -> str:
    """Send one clip of 16 kHz mono float32 PCM (at most 30 s) to the entry model."""
    wav = grpcclient.InferInput("WAV", [1, len(pcm)], "FP32")
    wav.set_data_from_numpy(pcm.reshape(1, -1).astype(np.float32, copy=False))
    result = client.infer(model, [wav], outputs=[grpcclient.InferRequestedOutput("TRANSCRIPTS")])
    return result.as_numpy("TRANSCRIPTS").reshape(-1)[0].decode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triton_server.client", description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--url", default="127.0.0.1:8001", help="Triton gRPC address")
    args = parser.parse_args(argv)
    with grpcclient.InferenceServerClient(args.url) as client:
        for file in args.files:
            print(f"{file}: {transcribe(client, decode_audio(file))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
