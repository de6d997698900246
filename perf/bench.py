"""`python -m perf.bench`: the whole service, Triton, the bare runtime and faster-whisper, side by side.

Each pass sends every clip of a dataset through one target at one concurrency and records
WER, wall time, audio seconds per second, files per hour, latency percentiles, peak RSS of the
processes involved and, for targets behind Triton, the decoder's average batch size. Results go
to JSON (schema SCHEMA_VERSION) and a Markdown report with plots (perf.report).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np

from export.sources import default_source
from gateway.launcher import local_stack
from perf.accuracy import word_error_rate
from perf.datasets import DATASETS, load_dataset
from perf.measure import PeakRss, decoder_counts
from perf.targets import (
    Answer,
    FasterWhisperTarget,
    GatewayTarget,
    LoadedClip,
    RuntimeTarget,
    Target,
    TritonTarget,
)
from whisper_runtime.audio import decode_audio
from whisper_runtime.repository import PRECISIONS, Precision

SCHEMA_VERSION = 1
RESULTS_DIR = Path(__file__).resolve().parent / "results"
TARGET_NAMES = ("gateway", "triton", "runtime", "faster-whisper")


@dataclass(frozen=True)
class PassResult:
    target: str
    precision: str
    dataset: str
    concurrency: int
    repeats: int
    files: int
    audio_seconds: float
    wall_s: float
    audio_s_per_s: float
    files_per_hour: float
    latency_ms: dict[str, float]
    wer: float
    peak_rss_mb: dict[str, float]
    average_batch: float | None
    transcripts: dict[str, str]


def load_clips(dataset: str, limit: int | None = None) -> list[LoadedClip]:
    clips = load_dataset(dataset)[:limit]  # nosec B615
    return [LoadedClip(clip, clip.path.read_bytes(), decode_audio(clip.path)) for clip in clips]


def _percentiles(latencies: Sequence[float]) -> dict[str, float]:
    values = np.array(latencies) * 1000
    return {f"p{q}": round(float(np.percentile(values, q)), 1) for q in (50, 95, 99)}


def run_pass(
    target: Target,
    dataset: str,
    clips: Sequence[LoadedClip],
    concurrency: int,
    metrics_url: str | None,
    repeats: int = 1,
) -> PassResult:
    """One target on one dataset at one concurrency, `repeats` times: median wall time, all latencies,
    the first repeat's transcripts."""
    target.run(clips[:2], 1)  # warm-up: sessions, connections, caches
    counts_before = decoder_counts(metrics_url) if metrics_url else None
    walls: list[float] = []
    latencies: list[float] = []
    with PeakRss({**target.pids(), "bench": os.getpid()}) as rss:
        for repeat in range(repeats):
            started = time.perf_counter()
            answered: list[Answer] = target.run(clips, concurrency)
            walls.append(time.perf_counter() - started)
            latencies += [a.latency_s for a in answered]
            if repeat == 0:
                answers = answered
    wall = float(np.median(walls))
    average_batch = None
    if metrics_url and counts_before:
        requests, executions = (a - b for a, b in zip(decoder_counts(metrics_url), counts_before, strict=True))
        average_batch = round(requests / executions, 2) if executions else None
    audio_seconds = sum(clip.seconds for clip in clips)
    by_id = {answer.clip_id: answer for answer in answers}
    return PassResult(
        target=target.name,
        precision=target.precision,
        dataset=dataset,
        concurrency=concurrency,
        repeats=repeats,
        files=len(clips),
        audio_seconds=round(audio_seconds, 2),
        wall_s=round(wall, 3),
        audio_s_per_s=round(audio_seconds / wall, 2),
        files_per_hour=round(len(clips) / wall * 3600),
        latency_ms=_percentiles(latencies),
        wer=round(word_error_rate([c.clip.reference for c in clips], [by_id[c.clip.id].text for c in clips]), 2),
        peak_rss_mb=rss.peak_mb,
        average_batch=average_batch,
        transcripts={clip.clip.id: by_id[clip.clip.id].text for clip in clips},
    )


TargetFactory = Callable[[], AbstractContextManager[Target]]


@contextmanager
def _opened(make: Callable[[], Target]) -> Iterator[Target]:
    target = make()
    try:
        yield target
    finally:
        target.close()


@contextmanager
def build_targets(
    names: Sequence[str], precision: Precision, workdir: Path, runtime_workers: int, threads: int
) -> Iterator[list[tuple[str, TargetFactory, str | None]]]:
    """(name, factory, Triton metrics URL or None) per requested target. A factory's target exists only
    while its passes run, so idle peers hold no memory or threads during others' passes; the service
    (Triton and the gateway) stays up for the whole benchmark."""
    factories: list[tuple[str, TargetFactory, str | None]] = []
    with ExitStack() as stack:
        if {"gateway", "triton"} & set(names):
            service = stack.enter_context(local_stack(workdir, precision=precision))
            triton_pid, metrics = service.triton.pid or 0, service.triton.settings.metrics_url
            if "gateway" in names:
                gateway_pid = service.gateway.pid or 0

                def gateway() -> Target:
                    return GatewayTarget(service.gateway.url, service.api_key, gateway_pid, triton_pid, precision)

                factories.append(("gateway", lambda: _opened(gateway), metrics))
            if "triton" in names:
                grpc_url = service.triton.settings.grpc_url
                factories.append(
                    ("triton", lambda: _opened(lambda: TritonTarget(grpc_url, triton_pid, precision)), metrics)
                )
        if "runtime" in names:
            per_worker = max(1, threads // runtime_workers)
            factories.append(
                ("runtime", lambda: _opened(lambda: RuntimeTarget(precision, runtime_workers, per_worker)), None)
            )
        if "faster-whisper" in names:
            model_dir = default_source().path
            for compute_type in ("int8", "float32"):
                for mode in ("sequential", "parallel", "batched"):
                    factories.append(
                        (
                            f"faster-whisper-{mode}",
                            partial(_opened, partial(FasterWhisperTarget, compute_type, mode, threads, model_dir)),
                            None,
                        )
                    )
        yield factories


def _machine() -> dict[str, object]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(), "gpu": None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf.bench", description=__doc__)
    parser.add_argument("--targets", default=",".join(TARGET_NAMES), help=f"comma-separated: {','.join(TARGET_NAMES)}")
    parser.add_argument("--datasets", default="librispeech,eval-short", help=f"comma-separated: {','.join(DATASETS)}")
    parser.add_argument("--precision", choices=PRECISIONS, default="int8", help="service and runtime precision")
    parser.add_argument("--concurrency", default="1,4", help="comma-separated concurrency levels")
    parser.add_argument("--runtime-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="CPU threads for in-process targets")
    parser.add_argument("--limit", type=int, help="at most this many clips per dataset")
    parser.add_argument("--repeats", type=int, default=3, help="passes per measurement; the median wall time counts")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "bench.json")
    parser.add_argument("--report", type=Path, help="Markdown report path (default: beside --out)")
    parser.add_argument("--no-report", action="store_true", help="write only the JSON")
    args = parser.parse_args(argv)
    names = [name for name in args.targets.split(",") if name]
    unknown = set(names) - set(TARGET_NAMES)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    concurrencies = [int(level) for level in args.concurrency.split(",")]
    datasets = {name: load_clips(name, args.limit) for name in args.datasets.split(",")}
    results: list[PassResult] = []
    with build_targets(names, args.precision, Path(".run") / "bench", args.runtime_workers, args.threads) as targets:
        for dataset, clips in datasets.items():
            for name, open_target, metrics_url in targets:
                levels = [args.runtime_workers] if name == "runtime" else concurrencies
                if name in ("faster-whisper-sequential", "faster-whisper-batched"):
                    levels = [1]
                with open_target() as target:
                    for concurrency in levels:
                        result = run_pass(target, dataset, clips, concurrency, metrics_url, args.repeats)
                        results.append(result)
                        print(
                            f"{dataset:12} {target.name:26} {target.precision:5} c={concurrency:<2} "
                            f"{result.audio_s_per_s:7.2f} audio-s/s  WER {result.wer:5.2f}  "
                            f"p50 {result.latency_ms['p50']:7.1f} ms",
                            file=sys.stderr,
                            flush=True,
                        )
    document = {
        "schema_version": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "python -m perf.bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": _machine(),
        "results": [asdict(result) for result in results],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    if not args.no_report:
        from perf.report import write_report

        write_report(document, args.report or args.out.with_suffix(".md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
