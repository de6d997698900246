"""`python -m perf.bench` end to end on a few real clips: the JSON schema, interleaved repeats, pooled
WER, and the Markdown report with its plots and the summaries of other runs beside it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import pytest

from perf.bench import SCHEMA_VERSION, TargetSpec, load_clips, main, opened_target, pass_clips, run_benchmark
from perf.report import main as report_main
from perf.targets import Answer, LoadedClip

RESULTS = Path(__file__).resolve().parents[2] / "perf" / "results"
PERF_ANALYZER_RUN = {
    "created": "2026-12-01T00:00:00Z",
    "dataset": "librispeech",
    "clips": 6,
    "profile": "fused",
    "command": "python -m perf.perf_analyzer",
    "rows": [
        {
            "concurrency": 1,
            "inferences_per_s": 3.5,
            "audio_s_per_s": 26.8,
            "latency_ms": {"50": 280.0, "90": 330.0, "95": 340.0, "99": 360.0},
            "queue_ms": 0.1,
            "compute_ms": 270.0,
        }
    ],
}


def test_a_small_benchmark_writes_its_json_and_a_report_with_plots(tmp_path: Path) -> None:
    (tmp_path / "perf_analyzer.json").write_text(json.dumps(PERF_ANALYZER_RUN))
    out = tmp_path / "bench.json"
    arguments = ["--targets", "gateway,runtime", "--datasets", "librispeech,eval-short", "--limit", "2"]
    arguments += ["--triton-config", "whisper-tiny.en.max_queue_delay_us=100"]  # the fused model reloaded, batching on
    assert (
        main([*arguments, "--concurrency", "1,2", "--repeats", "2", "--min-pass-audio-s", "15", "--out", str(out)]) == 0
    )

    document = json.loads(out.read_text())
    assert document["schema_version"] == SCHEMA_VERSION
    assert document["configuration"]["profile"] == "fused" and document["machine"]["gpu"] is None
    assert document["configuration"]["triton_config"] == ["whisper-tiny.en.max_queue_delay_us=100"]
    measured = {(r["dataset"], r["target"], r["concurrency"]) for r in document["results"]}
    assert measured == {
        (d, t, c) for d in ("librispeech", "eval-short") for t, c in [("gateway", 1), ("gateway", 2), ("runtime", 2)]
    }
    for result in document["results"]:
        assert result["repeats"] == 2 and result["files"] == 2 and result["audio_s_per_s"] > 0
        assert result["requests"] == (2 if result["dataset"] == "librispeech" else 4)  # 17 s once, 11.6 s twice
        assert set(result["latency_ms"]) == {"p50", "p95", "p99"}
        assert result["average_batch"] == ({"whisper-tiny.en": 1.0} if result["target"] == "gateway" else None)
    runtime = next(r for r in document["results"] if r["target"] == "runtime")
    gateway = next(r for r in document["results"] if r["target"] == "gateway" and r["dataset"] == runtime["dataset"])
    assert gateway["transcripts"] == runtime["transcripts"]  # the same engine, request by request
    assert {(p["target"], p["files"]) for p in document["pooled_wer"]} == {("gateway", 4), ("runtime", 4)}

    report = out.with_suffix(".md").read_text()
    assert "Triton profile `fused` with `whisper-tiny.en.max_queue_delay_us=100`;" in report
    assert "## librispeech (2 files" in report and "each pass sends them 2 times" in report
    assert "## All datasets together" in report
    assert "gateway int8 c=2: 2/2 transcripts identical to the runtime's" in report
    assert "## perf_analyzer against `whisper`" in report
    for plot in ("librispeech-throughput.png", "eval-short-latency-wer.png"):
        assert (tmp_path / plot).stat().st_size > 1000 and f"]({plot})" in report

    out.with_suffix(".md").unlink()
    assert report_main([str(out)]) == 0
    assert out.with_suffix(".md").read_text() == report  # the report is a function of the JSON beside it


class _EchoTarget:
    """A stand-in peer that answers every clip with its own precision (no model: only the bookkeeping is tested)."""

    def __init__(self, name: str, precision: str) -> None:
        self.name, self.precision = name, precision

    def pids(self) -> dict[str, int]:
        return {}

    def run(self, clips: Sequence[LoadedClip], concurrency: int) -> list[Answer]:
        return [Answer(clip.clip.id, self.precision, 0.01) for clip in clips]

    def close(self) -> None:
        pass


def test_targets_of_one_name_and_two_precisions_are_measured_apart() -> None:
    specs = [
        TargetSpec("peer", precision, partial(opened_target, partial(_EchoTarget, "peer", precision)), None, [1, 4])
        for precision in ("int8", "fp32")
    ]
    results = run_benchmark(specs, {"librispeech": load_clips("librispeech", limit=4)}, repeats=3, min_pass_audio_s=0)
    assert [(r.precision, r.concurrency, r.repeats) for r in results] == [
        ("int8", 1, 3), ("int8", 4, 3), ("fp32", 1, 3), ("fp32", 4, 3)
    ]  # fmt: skip
    assert all(set(r.transcripts.values()) == {r.precision} for r in results)


def test_concurrency_beyond_the_number_of_files_is_measured_once_at_that_number() -> None:
    spec = TargetSpec("peer", "int8", partial(opened_target, partial(_EchoTarget, "peer", "int8")), None, [1, 4, 8])
    results = run_benchmark([spec], {"librispeech": load_clips("librispeech", limit=2)}, repeats=1, min_pass_audio_s=0)
    assert [r.concurrency for r in results] == [1, 2]


def test_a_pass_cycles_a_small_dataset_until_it_holds_enough_audio() -> None:
    clips = load_clips("librispeech", limit=2)
    audio = sum(clip.seconds for clip in clips)
    assert pass_clips(clips, audio * 2.5) == clips * 3
    assert pass_clips(clips, 0) == clips
    spec = TargetSpec("peer", "int8", partial(opened_target, partial(_EchoTarget, "peer", "int8")), None, [8])
    (result,) = run_benchmark([spec], {"librispeech": clips}, repeats=1, min_pass_audio_s=audio * 2.5)
    assert (result.files, result.requests, result.concurrency) == (2, 6, 6)
    assert result.audio_seconds == round(3 * audio, 2) and set(result.transcripts) == {c.clip.id for c in clips}


def test_the_committed_report_is_made_from_the_committed_results(tmp_path: Path) -> None:
    for result in RESULTS.glob("*.json"):
        shutil.copy(result, tmp_path / result.name)
    assert report_main([str(tmp_path / "bench.json")]) == 0
    report = (tmp_path / "bench.md").read_text()
    assert report == (RESULTS / "bench.md").read_text()
    assert "## Soak (`make soak`)" in report and "20,000 requests" in report
    assert "None" not in report  # a load run too short for a trend says so in words


def test_a_malformed_triton_config_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--targets", "gateway", "--triton-config", "whisper.threads=2"])
    assert exit_.value.code == 2 and "'threads' is not one of" in capsys.readouterr().err
