"""`python -m perf.gateway_overhead`: latency the gateway adds over calling Triton directly.

Sequential requests of one clip, interleaved round-robin across three paths so that machine
noise hits all of them alike; the overhead is the median of per-round paired differences
(consecutive calls share the machine's state, so the pairing removes most of Triton's jitter):
  gateway        multipart upload of the file to the gateway (decode + Triton inside)
  triton+decode  the client decodes the file itself (same decoder), then tritonclient gRPC
  triton         tritonclient gRPC with PCM decoded beforehand (Triton's own latency)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests
import tritonclient.grpc as grpcclient

from devstack.stack import local_stack
from perf.datasets import JFK_CLIP
from perf.provenance import provenance
from triton_server.client import transcribe_clip
from whisper_runtime.audio import decode_audio

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(audio: Path, rounds: int, workdir: Path) -> dict[str, list[float]]:
    data = audio.read_bytes()
    pcm = decode_audio(audio)
    with local_stack(workdir) as stack, grpcclient.InferenceServerClient(stack.triton.settings.grpc_url) as triton:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {stack.api_key}"
        url = f"{stack.gateway.url}/v1/audio/transcriptions"

        def via_gateway() -> None:
            response = session.post(url, files={"file": (audio.name, data)}, timeout=60)
            response.raise_for_status()

        paths: dict[str, Callable[[], object]] = {
            "gateway": via_gateway,
            "triton+decode": lambda: transcribe_clip(triton, decode_audio(audio)),
            "triton": lambda: transcribe_clip(triton, pcm),
        }
        for call in paths.values():  # warm-up: sessions, connections, caches
            for _ in range(3):
                call()
        samples: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(rounds):
            for name, call in paths.items():
                started = time.perf_counter()
                call()
                samples[name].append((time.perf_counter() - started) * 1000)
    return samples


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values), 2),
        "p95_ms": round(percentile(values, 0.95), 2),
        "mean_ms": round(statistics.fmean(values), 2),
    }


def paired_overhead_ms(slower: list[float], faster: list[float]) -> float:
    return round(statistics.median(s - f for s, f in zip(slower, faster, strict=True)), 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf.gateway_overhead", description=__doc__)
    parser.add_argument("--audio", type=Path, default=JFK_CLIP)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--out", type=Path, default=RESULTS / "gateway_overhead.json")
    args = parser.parse_args(argv)
    samples = measure(args.audio, args.rounds, Path(".run") / "perf-overhead")
    report = {
        "audio": args.audio.name,
        "rounds": args.rounds,
        "latency": {name: summary(values) for name, values in samples.items()},
        "gateway_overhead_vs_triton_with_decode_ms": paired_overhead_ms(samples["gateway"], samples["triton+decode"]),
        "gateway_overhead_vs_triton_ms": paired_overhead_ms(samples["gateway"], samples["triton"]),
        **provenance("perf.gateway_overhead", argv),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
