"""Concurrent requests are merged by Triton's dynamic batcher into batched decoding."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tests.audio_files import normalize
from tests.triton_server.triton_requests import grpc_infer, metric_values
from triton_server.launcher import TritonServer
from whisper_runtime.repository import DECODER_MODEL

BURST = 8


def test_a_burst_of_concurrent_requests_is_decoded_in_merged_batches(
    triton: TritonServer, librispeech_pcm: dict[str, np.ndarray], capsys
) -> None:
    clips = [list(librispeech_pcm.values())[i % len(librispeech_pcm)] for i in range(BURST)]
    alone = [grpc_infer(triton, {"WAV": clip[None, :]}).reshape(-1)[0].decode() for clip in clips[:2]]
    requests_before = metric_values(triton, "nv_inference_count")[DECODER_MODEL]
    executions_before = metric_values(triton, "nv_inference_exec_count")[DECODER_MODEL]

    with ThreadPoolExecutor(BURST) as pool:
        texts = list(pool.map(lambda clip: grpc_infer(triton, {"WAV": clip[None, :]}).reshape(-1)[0].decode(), clips))

    requests = metric_values(triton, "nv_inference_count")[DECODER_MODEL] - requests_before
    executions = metric_values(triton, "nv_inference_exec_count")[DECODER_MODEL] - executions_before
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
