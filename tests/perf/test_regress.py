"""The regression gate: what counts as a regression, and a deliberately degraded decoder failing it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from perf.bench import SCHEMA_VERSION, load_clips, run_pass
from perf.regress import Tolerances, compare, main
from perf.targets import RuntimeTarget
from whisper_runtime.decoding import DecodingOptions

BASELINE = Path(__file__).resolve().parents[2] / "perf" / "baselines" / "ci-librispeech.json"
TOLERANCES = Tolerances.load()


def _result(
    target: str, throughput: float, wer: float = 5.0, concurrency: int = 1, rss: float = 100.0
) -> dict[str, Any]:
    return {
        "dataset": "librispeech",
        "target": target,
        "precision": "int8",
        "concurrency": concurrency,
        "audio_s_per_s": throughput,
        "wer": wer,
        "peak_rss_mb": {"triton": rss},
        "transcripts": {"clip-1": "hello world", "clip-2": "good night"},
    }


def _document(*results: dict[str, Any]) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "results": list(results)}


BASE = _document(_result("runtime", 30.0), _result("gateway", 27.0))


def test_an_identical_result_passes() -> None:
    assert compare(copy.deepcopy(BASE), BASE, TOLERANCES) == []


def test_a_uniformly_slower_machine_is_no_regression() -> None:
    assert compare(_document(_result("runtime", 15.0), _result("gateway", 13.5)), BASE, TOLERANCES) == []


def test_a_throughput_drop_relative_to_the_reference_fails() -> None:
    problems = compare(_document(_result("runtime", 30.0), _result("gateway", 15.0)), BASE, TOLERANCES)
    assert len(problems) == 1 and "throughput 0.50x of runtime vs baseline 0.90x" in problems[0]


def test_an_accuracy_drop_fails() -> None:
    problems = compare(_document(_result("runtime", 30.0), _result("gateway", 27.0, wer=6.0)), BASE, TOLERANCES)
    assert any("WER 6.00% vs baseline 5.00%" in p for p in problems)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_changed_transcript_fails_at_any_concurrency(concurrency: int) -> None:
    base = _document(_result("runtime", 30.0), _result("gateway", 27.0, concurrency=concurrency))
    changed = copy.deepcopy(base)
    changed["results"][1]["transcripts"]["clip-2"] = "good knight"
    expected = f"librispeech/gateway/int8/{concurrency}: transcripts changed for clip-2"
    assert compare(changed, base, TOLERANCES) == [expected]


def test_memory_growth_fails_and_missing_measurements_are_reported() -> None:
    problems = compare(_document(_result("runtime", 30.0, rss=200.0)), BASE, TOLERANCES)
    assert any("peak RSS 200 MB vs baseline 100 MB" in p for p in problems)
    assert any("gateway/int8/1: in the baseline but not measured" in p for p in problems)


@pytest.fixture(scope="module")
def baseline() -> dict[str, Any]:
    return json.loads(BASELINE.read_text())


def _runtime_document(decoding: DecodingOptions | None) -> dict[str, Any]:
    target = RuntimeTarget("int8", workers=2, threads=1, decoding=decoding)
    try:
        result = run_pass(target, "librispeech", load_clips("librispeech"), 2, metrics_url=None)
    finally:
        target.close()
    from dataclasses import asdict

    return _document(asdict(result))


def test_a_deliberately_degraded_decoder_fails_the_gate(baseline: dict[str, Any], tmp_path: Path) -> None:
    runtime_baseline = _document(*(r for r in baseline["results"] if r["target"] == "runtime"))
    healthy = _runtime_document(None)
    assert [p for p in compare(healthy, runtime_baseline, TOLERANCES) if "WER" in p or "transcripts" in p] == []

    truncated = _runtime_document(DecodingOptions(max_new_tokens=5))  # the broken option
    problems = compare(truncated, runtime_baseline, TOLERANCES)
    assert any("WER" in p for p in problems)
    (tmp_path / "result.json").write_text(json.dumps(truncated))
    (tmp_path / "baseline.json").write_text(json.dumps(runtime_baseline))
    assert main([str(tmp_path / "result.json"), str(tmp_path / "baseline.json")]) == 1
