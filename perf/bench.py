"""`python -m perf.bench`: the whole service, Triton, the bare runtime and faster-whisper, side by side.

Each pass sends every clip of a dataset through one target at one concurrency and records
WER, wall time, audio seconds per second, files per hour, latency percentiles, peak RSS of the
processes involved, GPU utilization where a GPU exists and, for targets behind Triton, the
average batch of each Triton model. Repeats are interleaved (every target once, then every
target again), so that a machine whose speed drifts during the run moves all targets alike; a
result's wall time is the median of its repeats. Results go to JSON (schema SCHEMA_VERSION) and a
Markdown report with plots (perf.report).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np

from devstack.stack import local_stack
from export.sources import BUNDLED_NAMES, bundled_sources
from perf.accuracy import mixed_error_rate
from perf.datasets import DATASETS, WARM_UP_CLIP, Clip, load_dataset
from perf.measure import GpuUtilization, InferenceCounts, PeakRss, average_batches, gpu_name, inference_counts
from perf.provenance import host, provenance
from perf.targets import (
    FASTER_WHISPER_PRECISION,
    Answer,
    FasterWhisperTarget,
    GatewayTarget,
    LoadedClip,
    RuntimeTarget,
    Target,
    TritonTarget,
)
from triton_server.launcher import PROFILES, Profile, default_profile
from triton_server.model_control import FIELDS, ConfigOverride, apply_overrides, parse_overrides
from whisper_runtime.audio import decode_audio
from whisper_runtime.model_files import ModelFiles
from whisper_runtime.repository import DEFAULT_MODEL, DEFAULT_REPOSITORY, PRECISIONS, Precision, parse_precision

# 2: average_batch per Triton model, gpu_utilization_pct, configuration. Added since as optional fields that
# readers default (older version-2 files, such as the gate baseline, lack them): requests, min_pass_audio_s,
# triton_config.
SCHEMA_VERSION = 2
# A pass sends a dataset's clips again until it holds this much audio: a pass of a few files at
# concurrency 4 is mostly ramp-up and the last clip running alone.
MIN_PASS_AUDIO_S = 120.0
RESULTS_DIR = Path(__file__).resolve().parent / "results"
TARGET_NAMES = ("gateway", "triton", "runtime", "faster-whisper")


@dataclass(frozen=True)
class PassResult:
    target: str
    precision: str
    dataset: str
    concurrency: int
    repeats: int
    files: int  # distinct clips
    requests: int  # sent per pass: the clips, cycled until the pass holds MIN_PASS_AUDIO_S
    audio_seconds: float  # per pass
    wall_s: float
    audio_s_per_s: float
    files_per_hour: float
    latency_ms: dict[str, float]
    wer: float
    peak_rss_mb: dict[str, float]
    average_batch: dict[str, float] | None
    gpu_utilization_pct: float | None
    transcripts: dict[str, str]


@dataclass(frozen=True)
class Measurement:
    """One pass of one target over a dataset."""

    wall_s: float
    answers: list[Answer]
    peak_rss_mb: dict[str, float]
    counts: tuple[InferenceCounts, InferenceCounts] | None  # Triton's, before and after
    gpu_utilization_pct: float | None


def load_clips(dataset: str, limit: int | None = None) -> list[LoadedClip]:
    clips = load_dataset(dataset)[:limit]  # nosec B615
    return [LoadedClip(clip, clip.path.read_bytes(), decode_audio(clip.path)) for clip in clips]


def _percentiles(latencies: Sequence[float]) -> dict[str, float]:
    values = np.array(latencies) * 1000
    return {f"p{q}": round(float(np.percentile(values, q)), 1) for q in (50, 95, 99)}


def measure_pass(target: Target, clips: Sequence[LoadedClip], concurrency: int, metrics_url: str | None) -> Measurement:
    before = inference_counts(metrics_url) if metrics_url else None
    with PeakRss(target.pids(), own={"bench": os.getpid()}) as rss, GpuUtilization() as gpu:
        started = time.perf_counter()
        answers = target.run(clips, concurrency)
        wall = time.perf_counter() - started
    counts = (before, inference_counts(metrics_url)) if before is not None and metrics_url else None
    return Measurement(wall, answers, rss.peak_mb, counts, gpu.mean_pct)


def pass_clips(clips: Sequence[LoadedClip], min_audio_s: float = MIN_PASS_AUDIO_S) -> list[LoadedClip]:
    """`clips` as many times over as it takes to hold `min_audio_s` of audio (at least once)."""
    audio = sum(clip.seconds for clip in clips)
    return list(clips) * max(1, math.ceil(min_audio_s / audio))


def summarize(
    target: Target,
    dataset: str,
    clips: Sequence[LoadedClip],
    concurrency: int,
    measurements: Sequence[Measurement],
    sent: Sequence[LoadedClip] | None = None,
) -> PassResult:
    """One result from the repeats of one pass that sent `sent` (default: `clips`): median wall time,
    every latency, the first answer to each clip, the highest RSS, batches over all repeats."""
    sent = clips if sent is None else sent
    wall = float(np.median([m.wall_s for m in measurements]))
    audio_seconds = sum(clip.seconds for clip in sent)
    by_id: dict[str, Answer] = {}
    for answer in measurements[0].answers:
        by_id.setdefault(answer.clip_id, answer)
    peak: dict[str, float] = {}
    for measurement in measurements:
        for name, mb in measurement.peak_rss_mb.items():
            peak[name] = max(peak.get(name, 0.0), mb)
    counted = [m.counts for m in measurements if m.counts is not None]
    gpu = [m.gpu_utilization_pct for m in measurements if m.gpu_utilization_pct is not None]
    return PassResult(
        target=target.name,
        precision=target.precision,
        dataset=dataset,
        concurrency=concurrency,
        repeats=len(measurements),
        files=len(clips),
        requests=len(sent),
        audio_seconds=round(audio_seconds, 2),
        wall_s=round(wall, 3),
        audio_s_per_s=round(audio_seconds / wall, 2),
        files_per_hour=round(len(sent) / wall * 3600),
        latency_ms=_percentiles([a.latency_s for m in measurements for a in m.answers]),
        wer=round(
            mixed_error_rate(
                [c.clip.reference for c in clips],
                [by_id[c.clip.id].text for c in clips],
                [c.clip.language for c in clips],
            ),
            2,
        ),
        peak_rss_mb=peak,
        average_batch=average_batches(counted) if counted else None,
        gpu_utilization_pct=round(float(np.mean(gpu)), 1) if gpu else None,
        transcripts={clip.clip.id: by_id[clip.clip.id].text for clip in clips},
    )


def warm_up(target: Target) -> None:
    """Sessions, connections, caches and every worker or instance, before anything is timed."""
    clip = LoadedClip(Clip("warm-up", WARM_UP_CLIP, ""), WARM_UP_CLIP.read_bytes(), decode_audio(WARM_UP_CLIP))
    target.run([clip, clip], 2)


def run_pass(
    target: Target,
    dataset: str,
    clips: Sequence[LoadedClip],
    concurrency: int,
    metrics_url: str | None,
    repeats: int = 1,
) -> PassResult:
    """One target on one dataset at one concurrency, `repeats` times in a row."""
    warm_up(target)
    return summarize(
        target,
        dataset,
        clips,
        concurrency,
        [measure_pass(target, clips, concurrency, metrics_url) for _ in range(repeats)],
    )


@dataclass(frozen=True)
class TargetSpec:
    """How to bring up one target for its passes, and the concurrency levels it is measured at."""

    name: str
    precision: str
    open: Callable[[], AbstractContextManager[Target]]
    metrics_url: str | None
    levels: list[int]

    @property
    def key(self) -> tuple[str, str]:
        return self.name, self.precision


@contextmanager
def opened_target(make: Callable[[], Target]) -> Iterator[Target]:
    target = make()
    try:
        yield target
    finally:
        target.close()


@contextmanager
def build_targets(
    names: Sequence[str],
    precision: Precision,
    profile: Profile,
    concurrencies: list[int],
    workdir: Path,
    runtime_workers: int,
    threads: int,
    triton_config: Sequence[ConfigOverride] = (),
    model: str = DEFAULT_MODEL,
) -> Iterator[list[TargetSpec]]:
    """The requested targets of one precision. A target exists only while its passes run, so idle
    peers hold no memory or threads during others' passes; the service (Triton and the gateway)
    stays up throughout, serving `model` alone, its models reloaded with `triton_config` first."""
    specs: list[TargetSpec] = []
    with ExitStack() as stack:
        if {"gateway", "triton"} & set(names):
            service = stack.enter_context(local_stack(workdir, precision=precision, profile=profile, models=(model,)))
            if triton_config:
                apply_overrides(service.triton.settings.http_url, triton_config)
            triton_pid, metrics = service.triton.pid or 0, service.triton.settings.metrics_url
            if "gateway" in names:
                gateway = partial(
                    GatewayTarget,
                    service.gateway.url,
                    service.api_key,
                    service.gateway.pid or 0,
                    triton_pid,
                    precision,
                    model,
                )
                specs.append(TargetSpec("gateway", precision, partial(opened_target, gateway), metrics, concurrencies))
            if "triton" in names:
                triton = partial(
                    TritonTarget, service.triton.settings.grpc_url, triton_pid, precision, DEFAULT_REPOSITORY, model
                )
                specs.append(TargetSpec("triton", precision, partial(opened_target, triton), metrics, concurrencies))
        if "runtime" in names:
            runtime = partial(
                RuntimeTarget, precision, runtime_workers, max(1, threads // runtime_workers), model=model
            )
            specs.append(TargetSpec("runtime", precision, partial(opened_target, runtime), None, [runtime_workers]))
        if "faster-whisper" in names:
            (source,) = bundled_sources([model])
            multilingual = ModelFiles.load(DEFAULT_REPOSITORY, model).spec.is_multilingual
            for compute_type, peer_precision in FASTER_WHISPER_PRECISION.items():
                for mode in ("sequential", "parallel", "batched"):
                    peer = partial(FasterWhisperTarget, compute_type, mode, threads, source.materialize(), multilingual)
                    levels = concurrencies if mode == "parallel" else [1]
                    specs.append(
                        TargetSpec(f"faster-whisper-{mode}", peer_precision, partial(opened_target, peer), None, levels)
                    )
        yield specs


def _levels(spec: TargetSpec, sent: Sequence[LoadedClip]) -> list[int]:
    """The spec's concurrency levels for a pass of len(sent) requests: more in flight than that is no other level."""
    return sorted({min(level, len(sent)) for level in spec.levels})


def run_benchmark(
    specs: Sequence[TargetSpec],
    datasets: dict[str, list[LoadedClip]],
    repeats: int,
    min_pass_audio_s: float = MIN_PASS_AUDIO_S,
) -> list[PassResult]:
    """Every target on every dataset at each of its levels, repeats interleaved across targets."""
    results: list[PassResult] = []
    for dataset, clips in datasets.items():
        sent = pass_clips(clips, min_pass_audio_s)
        measured: dict[tuple[tuple[str, str], int], list[Measurement]] = defaultdict(list)
        targets: dict[tuple[str, str], Target] = {}
        for _ in range(repeats):
            for spec in specs:
                with spec.open() as target:
                    warm_up(target)
                    targets[spec.key] = target
                    for concurrency in _levels(spec, sent):
                        measured[(spec.key, concurrency)].append(
                            measure_pass(target, sent, concurrency, spec.metrics_url)
                        )
        for spec in specs:
            for concurrency in _levels(spec, sent):
                runs = measured[(spec.key, concurrency)]
                result = summarize(targets[spec.key], dataset, clips, concurrency, runs, sent)
                results.append(result)
                print(
                    f"{dataset:12} {result.target:26} {result.precision:5} c={concurrency:<2} "
                    f"{result.audio_s_per_s:7.2f} audio-s/s  WER {result.wer:5.2f}  "
                    f"p50 {result.latency_ms['p50']:7.1f} ms",
                    file=sys.stderr,
                    flush=True,
                )
    return results


def pooled_wer(results: Sequence[PassResult], datasets: dict[str, list[LoadedClip]]) -> list[dict[str, object]]:
    """WER over all datasets at once, per target, precision and concurrency measured on every dataset."""
    references = {clip.clip.id: clip.clip.reference for clips in datasets.values() for clip in clips}
    languages = {clip.clip.id: clip.clip.language for clips in datasets.values() for clip in clips}
    grouped: dict[tuple[str, str, int], dict[str, str]] = defaultdict(dict)
    covered: dict[tuple[str, str, int], set[str]] = defaultdict(set)
    for result in results:
        key = (result.target, result.precision, result.concurrency)
        grouped[key].update(result.transcripts)
        covered[key].add(result.dataset)
    return [
        {
            "target": target,
            "precision": precision,
            "concurrency": concurrency,
            "files": len(texts),
            "wer": round(
                mixed_error_rate([references[c] for c in texts], list(texts.values()), [languages[c] for c in texts]), 2
            ),
        }
        for (target, precision, concurrency), texts in grouped.items()
        if covered[(target, precision, concurrency)] == set(datasets)
    ]


def _machine() -> dict[str, object]:
    return {
        **host(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "gpu": gpu_name(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf.bench", description=__doc__)
    parser.add_argument("--targets", default=",".join(TARGET_NAMES), help=f"comma-separated: {','.join(TARGET_NAMES)}")
    parser.add_argument("--datasets", default="librispeech,eval-short", help=f"comma-separated: {','.join(DATASETS)}")
    parser.add_argument(
        "--precisions", default="int8", help=f"comma-separated service and runtime precisions: {','.join(PRECISIONS)}"
    )
    parser.add_argument("--profile", choices=PROFILES, default=default_profile(), help="Triton's serving profile")
    parser.add_argument(
        "--triton-config",
        default="",
        help=f"comma-separated MODEL.FIELD=VALUE applied to the served models; fields: {', '.join(FIELDS)}",
    )
    parser.add_argument("--concurrency", default="1,4", help="comma-separated concurrency levels")
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, choices=BUNDLED_NAMES, help="the model every target runs (one per run)"
    )
    parser.add_argument("--runtime-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="CPU threads for in-process targets")
    parser.add_argument("--limit", type=int, help="at most this many clips per dataset")
    parser.add_argument("--repeats", type=int, default=3, help="passes per measurement; the median wall time counts")
    parser.add_argument(
        "--min-pass-audio-s",
        type=float,
        default=MIN_PASS_AUDIO_S,
        help="a pass cycles its clips to hold this much audio",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "bench.json")
    parser.add_argument("--report", type=Path, help="Markdown report path (default: beside --out)")
    parser.add_argument("--no-report", action="store_true", help="write only the JSON")
    args = parser.parse_args(argv)
    names = [name for name in args.targets.split(",") if name]
    unknown = set(names) - set(TARGET_NAMES)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    try:
        precisions = [parse_precision(p) for p in args.precisions.split(",")]
        triton_config = parse_overrides(args.triton_config)
    except ValueError as exc:
        parser.error(str(exc))
    concurrencies = [int(level) for level in args.concurrency.split(",")]
    datasets = {name: load_clips(name, args.limit) for name in args.datasets.split(",")}
    results: list[PassResult] = []
    for index, precision in enumerate(precisions):
        # faster-whisper measures both of its compute types once, with the first precision.
        chosen = [n for n in names if n != "faster-whisper" or index == 0]
        with build_targets(
            chosen,
            precision,
            args.profile,
            concurrencies,
            Path(".run") / "bench",
            args.runtime_workers,
            args.threads,
            triton_config,
            args.model,
        ) as specs:
            results += run_benchmark(specs, datasets, args.repeats, args.min_pass_audio_s)
    document = {
        "schema_version": SCHEMA_VERSION,
        **provenance("perf.bench", argv),
        "machine": _machine(),
        "configuration": {
            "model": args.model,
            "profile": args.profile,
            "triton_config": [str(override) for override in triton_config],
            "precisions": precisions,
            "runtime_workers": args.runtime_workers,
            "threads": args.threads,
            "repeats": args.repeats,
            "min_pass_audio_s": args.min_pass_audio_s,
        },
        "results": [asdict(result) for result in results],
        "pooled_wer": pooled_wer(results, datasets),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    if not args.no_report:
        from perf.report import write_report

        write_report(document, args.report or args.out.with_suffix(".md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
