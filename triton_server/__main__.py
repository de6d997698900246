"""`python -m triton_server`: run Triton on the model repository in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from triton_server.launcher import PROFILES, TritonLaunchError, TritonServer, TritonSettings, describe_precisions
from whisper_runtime.repository import DEFAULT_REPOSITORY, PRECISIONS


def _parser() -> argparse.ArgumentParser:
    defaults = TritonSettings()
    parser = argparse.ArgumentParser(prog="python -m triton_server", description=__doc__)
    parser.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY)
    parser.add_argument(
        "--model", dest="models", nargs="+", help="Whisper models to serve (default: every exported one)"
    )
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--http-port", type=int, default=defaults.http_port)
    parser.add_argument("--grpc-port", type=int, default=defaults.grpc_port)
    parser.add_argument("--metrics-port", type=int, default=defaults.metrics_port)
    parser.add_argument(
        "--precision", choices=PRECISIONS, help="default: each model's faster on this host (measured once, recorded)"
    )
    parser.add_argument(
        "--profile", choices=PROFILES, help="fused or pipeline (default: pipeline with a GPU, else fused)"
    )
    parser.add_argument("--intra-op-threads", type=int, help="ONNX Runtime threads per model instance")
    parser.add_argument(
        "--burst-threads", type=int, help="ONNX Runtime threads of a run alone on the host (1: no more than the base)"
    )
    parser.add_argument("--example-audio", type=Path, help="audio file named in the example command printed")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = TritonSettings(
        repository=args.repository.resolve(),
        models=tuple(args.models) if args.models else None,
        host=args.host,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        precision=args.precision,
        profile=args.profile,
        intra_op_threads=args.intra_op_threads,
        burst_threads=args.burst_threads,
    )
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    server = TritonServer(settings)
    try:
        server.start()
    except TritonLaunchError as exc:
        print(f"triton failed to start: {exc}", file=sys.stderr)
        return 1
    audio = args.example_audio or Path("your-audio.flac")
    models = settings.served_models
    print(
        f"\nTriton is ready: HTTP {settings.http_url}, gRPC {settings.grpc_url}, metrics {settings.metrics_url}"
        f" (profile {settings.serving_profile}; {describe_precisions(server.precisions)})"
        f"\nTranscribe a file with tritonclient:\n"
        f"  .venv/bin/python -m triton_server.client --url {settings.grpc_url} --model {models[0]} {audio}\n",
        flush=True,
    )
    stopping.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
