"""The model table reads benchmark results of one model each: the gateway against faster-whisper's best."""

from __future__ import annotations

from perf.model_table import markdown, rows


def _result(target: str, precision: str, dataset: str, concurrency: int, audio_s_per_s: float, wer: float) -> dict:
    return {
        "target": target, "precision": precision, "dataset": dataset, "concurrency": concurrency,
        "audio_seconds": 100.0, "wall_s": 100.0 / audio_s_per_s, "wer": wer,
        "latency_ms": {"p50": 300.0 * concurrency, "p95": 400.0 * concurrency, "p99": 500.0},
        "peak_rss_mb": {"triton": 900.0, "gateway": 300.0} if target == "gateway" else {},
    }  # fmt: skip


DOCUMENT = {
    "configuration": {"model": "whisper-base", "precisions": ["int8"]},
    "results": [
        _result("gateway", "int8", "librispeech", 1, 10.0, 4.0),
        _result("gateway", "int8", "librispeech", 4, 20.0, 4.0),
        _result("gateway", "int8", "multilingual", 1, 10.0, 20.0),
        _result("gateway", "int8", "multilingual", 4, 20.0, 20.0),
        _result("faster-whisper-sequential", "int8", "librispeech", 1, 8.0, 4.5),
        _result("faster-whisper-sequential", "int8", "multilingual", 1, 8.0, 21.0),
        _result("faster-whisper-parallel", "int8", "librispeech", 4, 12.5, 4.5),
        _result("faster-whisper-parallel", "int8", "multilingual", 4, 12.5, 21.0),
        _result("faster-whisper-sequential", "fp32", "librispeech", 1, 30.0, 4.4),
    ],
}


def test_a_row_compares_the_gateway_with_the_fastest_peer_in_its_precision() -> None:
    (row,) = rows(DOCUMENT)
    assert row[:3] == ["whisper-base", "int8", "librispeech 4.0, multilingual 20.0"]
    assert row[3:7] == ["10.0", "20.0", "1200 / 1600", "900"]
    assert row[7:] == ["12.5 (parallel c=4)", "1.60", "librispeech 4.5, multilingual 21.0"]  # fp32's 30 is not int8


def test_the_table_has_a_header_and_a_row_per_model_and_precision() -> None:
    lines = markdown([DOCUMENT, DOCUMENT]).splitlines()
    assert lines[0].startswith("| model | precision |") and len(lines) == 4
