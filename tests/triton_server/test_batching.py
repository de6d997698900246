"""Concurrent requests are merged by Triton's dynamic batcher into batched decoding."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.audio_files import normalize
from tests.triton_server.triton_requests import grpc_infer, metric_values
from triton_server.launcher import TritonServer
from whisper_runtime.repository import DECODER_MODEL

BURST = 8


def _settled_decoder_counts(server: TritonServer) -> tuple[float, float]:
    """(requests, executions) of the decoder once two reads 300 ms apart agree (metrics lag completions)."""
    previous = None
    for _ in range(50):
        counts = (
            metric_values(server, "nv_inference_count")[DECODER_MODEL],
            metric_values(server, "nv_inference_exec_count")[DECODER_MODEL],
        )
        if counts == previous:
            return counts
        previous = counts
        time.sleep(0.3)
    raise AssertionError("Triton's decoder metrics did not settle")


def _transcribe(server: TritonServer, clip: np.ndarray) -> str:
    return grpc_infer(server, {"WAV": clip[None, :]}).reshape(-1)[0].decode()


def test_a_burst_of_concurrent_requests_is_decoded_in_merged_batches(
    triton: TritonServer, librispeech_pcm: dict[str, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    clips = [list(librispeech_pcm.values())[i % len(librispeech_pcm)] for i in range(BURST)]
    alone = [_transcribe(triton, clip) for clip in clips[:2]]
    requests_before, executions_before = _settled_decoder_counts(triton)

    with ThreadPoolExecutor(BURST) as pool:
        texts = list(pool.map(lambda clip: _transcribe(triton, clip), clips))

    requests_after, executions_after = _settled_decoder_counts(triton)
    requests, executions = requests_after - requests_before, executions_after - executions_before
    assert requests == BURST
    assert executions < requests, "no two requests shared an execution"
    with capsys.disabled():
        print(
            f"\n[batching] {BURST} concurrent requests -> {executions:.0f} decoder executions, "
            f"average batch {requests / executions:.2f}"
        )
    # int8 words may shift with batch composition; the transcripts stay the same speech.
    for text, reference in zip(texts[:2], alone, strict=True):
        assert normalize(text).split()[:4] == normalize(reference).split()[:4]
