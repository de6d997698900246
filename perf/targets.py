"""What the benchmark measures, side by side on the same decoded audio.

(a) gateway: the whole service over HTTP; (b) triton: tritonclient gRPC with PCM;
(c) runtime: whisper_runtime in-process (bare ONNX Runtime, worker processes);
(d) faster-whisper on the same CTranslate2 weights, in its sequential, parallel and batched forms.
(b) and (c) run the gateway's seek loop (whisper_runtime.transcription) with the gateway's options
for a `json` request: one window without timestamps up to 30 s, timestamps beyond. faster-whisper
decodes clips up to 30 s without timestamps and longer ones with its own long-form loop.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import requests
import tritonclient.grpc as grpcclient

from perf.datasets import WARM_UP_CLIP, Clip
from triton_server.client import decode_window
from whisper_runtime.audio import CHUNK_LENGTH, SAMPLE_RATE, decode_audio
from whisper_runtime.decoding import DecodingOptions
from whisper_runtime.engine import EngineOptions, WhisperEngine
from whisper_runtime.model_files import ModelFiles
from whisper_runtime.repository import DEFAULT_MODEL, DEFAULT_REPOSITORY, Precision
from whisper_runtime.sessions import SessionOptions
from whisper_runtime.transcription import TranscriptionOptions, full_text, transcribe

# faster-whisper's compute types, named as our precisions.
FASTER_WHISPER_PRECISION = {"int8": "int8", "float32": "fp32"}
# What the gateway does for a `json` request.
JSON_REQUEST = TranscriptionOptions(timestamps=False)
# How long a runtime worker may take to load its engine and transcribe the warm-up clip.
WORKER_LOAD_TIMEOUT_S = 300


@dataclass(frozen=True)
class LoadedClip:
    clip: Clip
    data: bytes
    pcm: np.ndarray

    @property
    def seconds(self) -> float:
        return self.pcm.size / SAMPLE_RATE


@dataclass(frozen=True)
class Answer:
    clip_id: str
    text: str
    latency_s: float


class Target(Protocol):
    name: str
    precision: str

    def pids(self) -> dict[str, int]:
        """Processes whose memory belongs to this target, by role."""
        ...

    def run(self, clips: Sequence[LoadedClip], concurrency: int) -> list[Answer]: ...

    def close(self) -> None: ...


def _timed(clip: LoadedClip, call: Callable[[LoadedClip], str]) -> Answer:
    started = time.perf_counter()
    text = call(clip)
    return Answer(clip.clip.id, text, time.perf_counter() - started)


def _concurrently(clips: Sequence[LoadedClip], concurrency: int, call: Callable[[LoadedClip], str]) -> list[Answer]:
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda clip: _timed(clip, call), clips))


class GatewayTarget:
    name = "gateway"

    def __init__(
        self, url: str, api_key: str, gateway_pid: int, triton_pid: int, precision: str, model: str = DEFAULT_MODEL
    ) -> None:
        self.precision = precision
        self._model = model
        self._url = f"{url}/v1/audio/transcriptions"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._pids = {"gateway": gateway_pid, "triton": triton_pid}
        self._local = threading.local()

    def pids(self) -> dict[str, int]:
        return self._pids

    def _post(self, clip: LoadedClip) -> str:
        session = getattr(self._local, "session", None) or requests.Session()
        self._local.session = session
        response = session.post(
            self._url,
            files={"file": (clip.clip.path.name, clip.data)},
            data={"model": self._model},
            headers=self._headers,
            timeout=300,
        )
        response.raise_for_status()
        return str(response.json()["text"])

    def run(self, clips: Sequence[LoadedClip], concurrency: int) -> list[Answer]:
        return _concurrently(clips, concurrency, self._post)

    def close(self) -> None:
        pass


class TritonTarget:
    name = "triton"

    def __init__(
        self,
        grpc_url: str,
        triton_pid: int,
        precision: str,
        repository: Path = DEFAULT_REPOSITORY,
        model: str = DEFAULT_MODEL,
    ) -> None:
        self.precision = precision
        self._url = grpc_url
        self._pid = triton_pid
        self._model = model
        self._tokenizer = ModelFiles.load(repository, model).tokenizer
        self._local = threading.local()

    def pids(self) -> dict[str, int]:
        return {"triton": self._pid}

    def _infer(self, clip: LoadedClip) -> str:
        client = getattr(self._local, "client", None) or grpcclient.InferenceServerClient(self._url)
        self._local.client = client
        segments = transcribe(
            clip.pcm, self._tokenizer, lambda window: decode_window(client, window, self._model), JSON_REQUEST
        )
        return full_text(list(segments))

    def run(self, clips: Sequence[LoadedClip], concurrency: int) -> list[Answer]:
        return _concurrently(clips, concurrency, self._infer)

    def close(self) -> None:
        pass


_worker_engine: WhisperEngine | None = None
_worker_options: DecodingOptions | None = None


def _load_worker(
    repository: Path,
    model: str,
    options: EngineOptions,
    decoding: DecodingOptions | None,
    ready: multiprocessing.Queue,
) -> None:
    """Load the engine, run it once on a real clip (nothing is cold when passes start), report the pid."""
    global _worker_engine, _worker_options
    _worker_engine, _worker_options = WhisperEngine.load(ModelFiles.load(repository, model), options), decoding
    _worker_engine.transcribe(decode_audio(WARM_UP_CLIP), JSON_REQUEST, decoding)
    ready.put(os.getpid())


def _worker_transcribe(pcm: np.ndarray) -> tuple[str, float]:
    if _worker_engine is None:
        raise RuntimeError("the worker's engine was not loaded by the pool initializer")
    started = time.perf_counter()
    segments = _worker_engine.transcribe(pcm, JSON_REQUEST, _worker_options)
    return full_text(segments), time.perf_counter() - started


class RuntimeTarget:
    """whisper_runtime in `workers` processes of `threads` ONNX Runtime threads each."""

    name = "runtime"

    def __init__(
        self,
        precision: Precision,
        workers: int,
        threads: int,
        repository: Path = DEFAULT_REPOSITORY,
        decoding: DecodingOptions | None = None,
        model: str = DEFAULT_MODEL,
    ) -> None:
        self.precision: str = precision
        options = EngineOptions(precision=precision, session=SessionOptions(intra_op_threads=threads))
        # Spawned, not forked: a forked worker's RSS would count the benchmark's own memory, and a fork
        # after faster-whisper's OpenMP threads started once left a child spinning at 100%.
        context = multiprocessing.get_context("spawn")
        ready: multiprocessing.Queue = context.Queue()
        self._pool = ProcessPoolExecutor(
            workers,
            mp_context=context,
            initializer=_load_worker,
            initargs=(repository, model, options, decoding, ready),
        )
        # A spawning pool starts a worker per submission that finds none idle: one each, before any is ready.
        for _ in range(workers):
            self._pool.submit(os.getpid)
        self._pids = sorted(ready.get(timeout=WORKER_LOAD_TIMEOUT_S) for _ in range(workers))

    def pids(self) -> dict[str, int]:
        return {f"worker{i}": pid for i, pid in enumerate(self._pids)}

    def run(self, clips: Sequence[LoadedClip], concurrency: int) -> list[Answer]:
        # The pool's processes are the concurrency: `concurrency` only bounds what is in flight.
        results = list(self._pool.map(_worker_transcribe, [clip.pcm for clip in clips]))
        return [Answer(clip.clip.id, text, latency) for clip, (text, latency) in zip(clips, results, strict=True)]

    def close(self) -> None:
        self._pool.shutdown()


class FasterWhisperTarget:
    """faster-whisper on the CTranslate2 weights the export started from, greedy; in English, or with the
    language detected (as the service does) on a multilingual model."""

    def __init__(self, compute_type: str, mode: str, threads: int, model_dir: Path, multilingual: bool = False) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.precision = FASTER_WHISPER_PRECISION[compute_type]
        self.name = f"faster-whisper-{mode}"
        self._mode = mode
        workers = 2 if mode == "parallel" else 1
        cpu_threads = max(1, threads // workers)
        self._model = WhisperModel(
            str(model_dir), device="cpu", compute_type=compute_type, cpu_threads=cpu_threads, num_workers=workers
        )
        self._batched = BatchedInferencePipeline(self._model) if mode == "batched" else None
        self._language = None if multilingual else "en"

    def pids(self) -> dict[str, int]:
        return {}

    def _transcribe(self, clip: LoadedClip) -> str:
        short = clip.seconds <= CHUNK_LENGTH  # long clips: its long-form loop, timestamps and previous text
        options = {"beam_size": 1, "language": self._language, "without_timestamps": short, "temperature": 0.0}
        if self._batched is not None:
            segments, _ = self._batched.transcribe(clip.pcm, batch_size=8, **options)
        else:
            segments, _ = self._model.transcribe(
                clip.pcm, vad_filter=False, condition_on_previous_text=not short, **options
            )
        return " ".join(segment.text.strip() for segment in segments)

    def run(self, clips: Sequence[LoadedClip], concurrency: int) -> list[Answer]:
        return _concurrently(clips, concurrency if self._mode == "parallel" else 1, self._transcribe)

    def close(self) -> None:
        pass
