"""ONNX Runtime sessions: execution providers chosen from what the installed runtime offers, and on a CPU more
threads for a run alone on the host (`whisper_runtime.host_runs`)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnxruntime as ort

from whisper_runtime.errors import ModelFilesError
from whisper_runtime.host import usable_cpus
from whisper_runtime.host_runs import DEFAULT_LOCK, HostRuns, host_runs

# Best first. TensorRT and CUDA appear only with onnxruntime-gpu on a machine with a GPU.
PROVIDER_PREFERENCE = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
GPU_PROVIDERS = PROVIDER_PREFERENCE[:2]


@dataclass(frozen=True)
class SessionOptions:
    """How to run the ONNX models: threads per run, and providers (None: best available).

    On a CPU a run alone on the host uses `burst_threads` (at most the usable cores), else `intra_op_threads`; the
    model is then loaded once per count (the results are the same with either: ONNX Runtime splits a product's rows
    and columns across threads, never its sums). `host_runs` is the lock file that every process of the host that
    runs models shares (`whisper_runtime.host_runs`)."""

    intra_op_threads: int = 1
    providers: tuple[str, ...] | None = None
    burst_threads: int = 1
    host_runs: Path = DEFAULT_LOCK

    def without_burst(self) -> SessionOptions:
        """The same, at the base thread count only: for a model whose share of the work is too small to pay
        for a second copy in memory."""
        return replace(self, burst_threads=self.intra_op_threads)


def select_providers(available: Sequence[str], requested: Sequence[str] | None = None) -> list[str]:
    """Providers to use, best first: `requested` if given (each must be available), else the preference order."""
    if requested:
        unavailable = [p for p in requested if p not in available]
        if unavailable:
            raise ModelFilesError(f"execution providers not available here: {', '.join(unavailable)}")
        return list(requested)
    return [p for p in PROVIDER_PREFERENCE if p in available]


def gpu_available(available: Sequence[str] | None = None) -> bool:
    """Whether ONNX Runtime (here, or as `available` lists) offers a GPU execution provider."""
    return any(provider in GPU_PROVIDERS for provider in (available or ort.get_available_providers()))


class ModelSession:
    """One ONNX model ready to run; with `burst` (the same model at more threads, their count, and the host's runs), a
    run takes the burst session where the host's runs let it (`HostRuns.run`)."""

    def __init__(
        self, base: ort.InferenceSession, burst: tuple[ort.InferenceSession, int, HostRuns] | None = None
    ) -> None:
        self._base, self._burst = base, burst

    @property
    def bursts(self) -> bool:
        return self._burst is not None

    def get_outputs(self) -> list[ort.NodeArg]:
        return self._base.get_outputs()

    def run(self, outputs: Sequence[str] | None, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """The model's outputs for `feeds`."""
        if self._burst is None:
            return self._base.run(outputs, feeds)
        session, threads, runs = self._burst
        with runs.run(threads) as bursts:
            return (session if bursts else self._base).run(outputs, feeds)


@functools.cache
def _share_the_cpu_allocator() -> None:
    """One CPU memory arena for every session of this process: a model loaded at two thread counts (or several
    models) runs in the same memory rather than each session growing an arena of its own."""
    memory = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
    ort.create_and_register_allocator(memory, None)


def _load(
    model: Path, options: SessionOptions, threads: int, providers: list[str], burst: bool = False
) -> ort.InferenceSession:
    """`model` at `threads`; the `burst` copy's threads spin between a run's parallel sections (its runs hold the host
    alone: 200 rather than 230 ms for tiny.en's encoder at 2 threads here, 2.3-2.5 rather than 2.6-2.9 ms a decoder
    step) and stop when the run returns, where spinning on would burn 40 ms of a core after each run."""
    _share_the_cpu_allocator()
    session_options = ort.SessionOptions()
    session_options.intra_op_num_threads = threads
    session_options.inter_op_num_threads = 1
    session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session_options.add_session_config_entry("session.use_env_allocators", "1")
    if burst:
        session_options.add_session_config_entry("session.force_spinning_stop", "1")
    elif options.burst_threads > 1:  # idle threads sleep rather than spin: a run beside them needs the core
        session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(model), sess_options=session_options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped Fail/InvalidGraph errors
        raise ModelFilesError(f"{model} could not be loaded: {exc}") from exc


def create_session(model: Path, options: SessionOptions) -> ModelSession:
    """`model` loaded as `options` say, or ModelFilesError if the file is missing or unreadable."""
    if not model.is_file():
        raise ModelFilesError(f"{model} does not exist: run the export first (make export)")
    providers = select_providers(ort.get_available_providers(), options.providers)
    base = _load(model, options, options.intra_op_threads, providers)
    threads = min(options.burst_threads, usable_cpus())
    if providers[0] != "CPUExecutionProvider" or threads <= options.intra_op_threads:
        return ModelSession(base)
    return ModelSession(
        base, (_load(model, options, threads, providers, burst=True), threads, host_runs(options.host_runs))
    )
