"""ONNX Runtime sessions: execution providers chosen from what the installed runtime offers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from whisper_runtime.errors import ModelFilesError

# Best first. TensorRT and CUDA appear only with onnxruntime-gpu on a machine with a GPU.
PROVIDER_PREFERENCE = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
GPU_PROVIDERS = PROVIDER_PREFERENCE[:2]


@dataclass(frozen=True)
class SessionOptions:
    """How to run the ONNX models: threads per session and providers (None: best available)."""

    intra_op_threads: int = 1
    providers: tuple[str, ...] | None = None


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


def create_session(model: Path, options: SessionOptions) -> ort.InferenceSession:
    """An InferenceSession for `model`, or ModelFilesError if the file is missing or unreadable."""
    if not model.is_file():
        raise ModelFilesError(f"{model} does not exist: run the export first (make export)")
    session_options = ort.SessionOptions()
    session_options.intra_op_num_threads = options.intra_op_threads
    session_options.inter_op_num_threads = 1
    session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers = select_providers(ort.get_available_providers(), options.providers)
    try:
        return ort.InferenceSession(str(model), sess_options=session_options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped Fail/InvalidGraph errors
        raise ModelFilesError(f"{model} could not be loaded: {exc}") from exc
