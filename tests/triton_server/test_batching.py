"""How each serving profile schedules concurrent requests: the pipeline merges them into batched
decoding; the fused profile runs each alone on the next free instance; a decoder reloaded with
`max_batch_size=1` (triton_server.model_control, the benchmark's --triton-config) batches nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.audio_files import normalize
from tests.triton_server.triton_requests import grpc_infer, metric_values
from triton_server.launcher import TritonServer, triton_on_free_ports
from triton_server.model_control import ModelControlError, apply_overrides, parse_overrides
from whisper_runtime.repository import DEFAULT_MODEL, DEFAULT_REPOSITORY, ModelLayout

ENTRY_MODEL = DEFAULT_MODEL
DECODER_MODEL = ModelLayout(DEFAULT_REPOSITORY, DEFAULT_MODEL).decoder_model

BURST = 8


def _settled_counts(server: TritonServer, model: str) -> tuple[float, float]:
    """(requests, executions) of `model` once two reads 300 ms apart agree (metrics lag completions)."""
    previous = None
    for _ in range(50):
        counts = (
            metric_values(server, "nv_inference_count")[model],
            metric_values(server, "nv_inference_exec_count")[model],
        )
        if counts == previous:
            return counts
        previous = counts
        time.sleep(0.3)
    raise AssertionError(f"Triton's metrics of {model} did not settle")


def _transcribe(server: TritonServer, clip: np.ndarray) -> str:
    return grpc_infer(server, {"WAV": clip[None, :]}).reshape(-1)[0].decode()


def _burst(server: TritonServer, model: str, clips: list[np.ndarray]) -> tuple[list[str], float, float]:
    """Transcripts of `clips` sent at once, and the requests and executions `model` counted for them."""
    requests_before, executions_before = _settled_counts(server, model)
    with ThreadPoolExecutor(len(clips)) as pool:
        texts = list(pool.map(lambda clip: _transcribe(server, clip), clips))
    requests_after, executions_after = _settled_counts(server, model)
    return texts, requests_after - requests_before, executions_after - executions_before


def _clips(librispeech_pcm: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [list(librispeech_pcm.values())[i % len(librispeech_pcm)] for i in range(BURST)]


def test_the_pipeline_decodes_a_burst_of_concurrent_requests_in_merged_batches(
    triton_pipeline: TritonServer, librispeech_pcm: dict[str, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    clips = _clips(librispeech_pcm)
    alone = [_transcribe(triton_pipeline, clip) for clip in clips[:2]]
    texts, requests, executions = _burst(triton_pipeline, DECODER_MODEL, clips)
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


def test_the_fused_profile_runs_each_concurrent_request_alone_with_the_words_it_gets_alone(
    triton: TritonServer, librispeech_pcm: dict[str, np.ndarray]
) -> None:
    clips = _clips(librispeech_pcm)
    alone = [_transcribe(triton, clip) for clip in clips]
    texts, requests, executions = _burst(triton, ENTRY_MODEL, clips)
    assert requests == executions >= BURST  # every request ran alone (a gateway's canary may add one)
    assert texts == alone  # nothing shares an int8 batch, so load never changes a word


@pytest.fixture(scope="module")
def reconfigured_pipeline(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """A pipeline Triton of its own (the session's servers keep their configuration)."""
    with triton_on_free_ports(tmp_path_factory.mktemp("triton-reconfigured"), "int8", repository, "pipeline") as server:
        yield server


def test_a_decoder_reloaded_with_batches_of_one_runs_each_request_alone(
    reconfigured_pipeline: TritonServer, librispeech_pcm: dict[str, np.ndarray]
) -> None:
    # The ensemble's max_batch_size may not exceed its models': both change, the decoder first.
    served = apply_overrides(
        reconfigured_pipeline.settings.http_url,
        parse_overrides(f"{DECODER_MODEL}.max_batch_size=1,{ENTRY_MODEL}.max_batch_size=1"),
    )
    assert served[DECODER_MODEL]["max_batch_size"] == served[ENTRY_MODEL]["max_batch_size"] == 1
    clips = _clips(librispeech_pcm)
    alone = [_transcribe(reconfigured_pipeline, clip) for clip in clips]
    texts, requests, executions = _burst(reconfigured_pipeline, DECODER_MODEL, clips)
    assert requests == executions == BURST
    assert texts == alone


def test_a_change_that_unloads_the_ensemble_is_an_error_naming_it(reconfigured_pipeline: TritonServer) -> None:
    url = reconfigured_pipeline.settings.http_url
    restored = apply_overrides(url, parse_overrides(f"{DECODER_MODEL}.max_batch_size=8,{ENTRY_MODEL}.max_batch_size=4"))
    assert restored[ENTRY_MODEL]["max_batch_size"] == 4
    with pytest.raises(ModelControlError, match=rf"not serving: {ENTRY_MODEL} \(UNAVAILABLE: unloaded\)"):
        apply_overrides(url, parse_overrides(f"{DECODER_MODEL}.max_batch_size=2"))
