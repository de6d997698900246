"""What a benchmark pass records besides time: batch sizes per Triton model, GPU use, pooled WER."""

from __future__ import annotations

from perf.bench import PassResult, load_clips, pooled_wer
from perf.measure import GpuUtilization, average_batches, gpu_name, inference_counts, parse_utilization
from triton_server.launcher import TritonServer


def test_average_batches_count_only_what_models_executed_between_each_pair_of_readings() -> None:
    before = {"whisper": (10.0, 10.0), "whisper_decoder": (10.0, 8.0), "idle": (3.0, 3.0)}
    after = {"whisper": (18.0, 18.0), "whisper_decoder": (18.0, 12.0), "idle": (3.0, 3.0), "new": (2.0, 1.0)}
    assert average_batches([(before, after)]) == {"whisper": 1.0, "whisper_decoder": 2.0, "new": 2.0}
    # Requests another target sent between two passes (here 100 batches of 1) are not counted.
    later = {"whisper_decoder": (118.0, 112.0)}, {"whisper_decoder": (126.0, 114.0)}
    assert average_batches([(before, after), later]) == {"whisper": 1.0, "whisper_decoder": 2.67, "new": 2.0}


def test_inference_counts_come_from_a_real_triton(triton: TritonServer) -> None:
    counts = inference_counts(triton.settings.metrics_url)
    assert {"whisper-tiny.en", "whisper-base"} <= set(counts) and all(
        requests >= executions for requests, executions in counts.values()
    )


def test_gpu_utilization_parses_nvidia_smi_lines_and_is_absent_without_a_gpu() -> None:
    assert parse_utilization("37\n[N/A]\n 100 \n\n0\n") == [37.0, 100.0, 0.0]
    with GpuUtilization() as gpu:
        pass
    assert gpu.mean_pct is None and gpu_name() is None  # no GPU on this machine


def _result(dataset: str, target: str, transcripts: dict[str, str]) -> PassResult:
    return PassResult(
        target=target, precision="int8", dataset=dataset, concurrency=1, repeats=1, files=len(transcripts),
        requests=len(transcripts),
        audio_seconds=1.0, wall_s=1.0, audio_s_per_s=1.0, files_per_hour=1.0, latency_ms={}, wer=0.0,
        peak_rss_mb={}, average_batch=None, gpu_utilization_pct=None, transcripts=transcripts,
    )  # fmt: skip


def test_pooled_wer_weighs_every_word_of_every_dataset_once() -> None:
    datasets = {"librispeech": load_clips("librispeech", limit=2), "eval-short": load_clips("eval-short", limit=1)}
    references = {c.clip.id: c.clip.reference for clips in datasets.values() for c in clips}
    perfect = [
        _result(name, "runtime", {c.clip.id: references[c.clip.id] for c in clips}) for name, clips in datasets.items()
    ]
    one_dataset_only = _result("librispeech", "gateway", {c.clip.id: "" for c in datasets["librispeech"]})
    pooled = pooled_wer([*perfect, one_dataset_only], datasets)
    assert pooled == [{"target": "runtime", "precision": "int8", "concurrency": 1, "files": 3, "wer": 0.0}]
