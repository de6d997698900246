"""The batch CLI: one output per input (directory trees mirrored), written whole, resumable, failures
listed with the server's error code, and a summary whose numbers add up."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jiwer
import pytest

from batch_client import cli
from batch_client.jobs import Failure, Job, OutputCollisionError, Summary, is_done, plan_jobs, probe_seconds
from batch_client.progress import BatchProgress
from devstack.gateway_process import GatewayProcess
from perf.datasets import load_dataset
from tests.audio_files import AUDIO_DIR, JFK, JFK_TEXT, LIBRISPEECH, normalize
from tests.gateway_process import TEST_API_KEY, gateway_env
from tests.languages import ENGLISH_FUNCTION_WORDS, ENGLISH_PRONOUNS, GERMAN_FUNCTION_WORDS, words_of
from triton_server.launcher import TritonServer

EVAL_SHORT = AUDIO_DIR / "eval" / "short"
EVAL_CLIPS = load_dataset("eval-short")  # the manifest: durations and references


def _run_cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "batch_client", "transcribe", "--url", url, "--api-key", TEST_API_KEY, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def _run_with_summary(url: str, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    summary = tmp_path / f"summary-{len(list(tmp_path.glob('summary-*')))}.json"
    result = _run_cli(url, *args, "--summary-json", str(summary))
    return result, json.loads(summary.read_text())


def _mtimes(directory: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in directory.rglob("*") if path.is_file()}


def _unused_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def _corrupt_copy(clip: Path, destination: Path, *, keep: float = 1.0, flip_middle: bool = False) -> Path:
    data = bytearray(clip.read_bytes()[: int(clip.stat().st_size * keep)])
    if flip_middle:
        for index in range(len(data) // 4, len(data) * 3 // 4, 7):
            data[index] ^= 0xFF
    destination.write_bytes(bytes(data))
    return destination


def _srt_text(path: Path) -> str:
    """The cues' text, without their numbers and timings."""
    blocks = path.read_text().strip().split("\n\n")
    return " ".join(" ".join(block.splitlines()[2:]) for block in blocks)


# The whole of eval/short, once for the module: later tests resume from its outputs.


@dataclass(frozen=True)
class EvalRun:
    out: Path
    result: subprocess.CompletedProcess[str]
    summary: dict[str, Any]


@pytest.fixture(scope="module")
def eval_run(gateway: GatewayProcess, tmp_path_factory: pytest.TempPathFactory) -> EvalRun:
    work = tmp_path_factory.mktemp("eval-short")
    result, summary = _run_with_summary(
        gateway.url, work, str(EVAL_SHORT), "--out", str(work / "out"), "--concurrency", "4"
    )
    return EvalRun(work / "out", result, summary)


def test_every_clip_of_eval_short_gets_its_transcript(eval_run: EvalRun) -> None:
    assert eval_run.result.returncode == 0, eval_run.result.stderr
    outputs = {path.relative_to(eval_run.out) for path in eval_run.out.rglob("*") if path.is_file()}
    assert outputs == {Path(clip.path.name).with_suffix(".txt") for clip in EVAL_CLIPS}
    assert all(is_done(eval_run.out / output) for output in outputs)
    # Each output holds its own clip's words: closer to its reference than to any other clip's.
    references = {clip.id: normalize(clip.reference) for clip in EVAL_CLIPS}
    for clip in EVAL_CLIPS:
        text = normalize((eval_run.out / f"{clip.id}.txt").read_text())
        assert min(references, key=lambda other: jiwer.wer(references[other], text)) == clip.id


def test_the_summary_counts_the_manifests_audio(eval_run: EvalRun) -> None:
    summary = eval_run.summary
    manifest_seconds = sum(clip.seconds or 0.0 for clip in EVAL_CLIPS)
    assert (summary["done"], summary["failed"], summary["skipped"]) == (len(EVAL_CLIPS), 0, 0)
    assert summary["audio_seconds"] == pytest.approx(manifest_seconds, abs=0.1)
    assert summary["planned_audio_seconds"] == pytest.approx(manifest_seconds, abs=0.1)
    assert summary["audio_seconds_per_second"] == pytest.approx(
        summary["audio_seconds"] / summary["wall_seconds"], rel=0.01
    )
    stderr = eval_run.result.stderr
    assert f"47/47 files, {manifest_seconds / 3600:.2f}/{manifest_seconds / 3600:.2f} h audio 100%" in stderr
    assert "Warning" not in stderr
    assert f"done 47, failed 0, skipped 0: {manifest_seconds:.1f} s of audio in" in stderr


def test_a_second_run_sends_nothing(eval_run: EvalRun, tmp_path: Path) -> None:
    before = _mtimes(eval_run.out)
    # No gateway listens there: a single request would fail the run.
    result, summary = _run_with_summary(_unused_url(), tmp_path, str(EVAL_SHORT), "--out", str(eval_run.out))
    assert result.returncode == 0, result.stderr
    assert (summary["done"], summary["failed"], summary["skipped"]) == (0, 0, len(EVAL_CLIPS))
    assert summary["audio_seconds"] == 0
    assert _mtimes(eval_run.out) == before


def test_a_rerun_redoes_only_the_missing_outputs(eval_run: EvalRun, gateway: GatewayProcess, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(eval_run.out, out)
    missing = [out / "LJ001-0003.txt", out / "fleurs-en-001.txt", out / "LJ001-0020.txt"]
    for path in missing:
        path.unlink()
    emptied = out / "LJ001-0004.txt"  # an empty output is not a finished one
    emptied.write_bytes(b"")
    kept = {path: mtime for path, mtime in _mtimes(out).items() if path not in [*missing, emptied]}
    result, summary = _run_with_summary(gateway.url, tmp_path, str(EVAL_SHORT), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert (summary["done"], summary["skipped"]) == (4, len(EVAL_CLIPS) - 4)
    assert all(is_done(path) for path in [*missing, emptied])
    assert {path: mtime for path, mtime in _mtimes(out).items() if path in kept} == kept


def test_overwrite_redoes_finished_outputs(gateway: GatewayProcess, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first, _ = _run_with_summary(gateway.url, tmp_path, str(JFK), "--out", str(out))
    assert first.returncode == 0, first.stderr
    result, summary = _run_with_summary(gateway.url, tmp_path, str(JFK), "--out", str(out), "--overwrite")
    assert result.returncode == 0, result.stderr
    assert (summary["done"], summary["skipped"]) == (1, 0)


def test_refusals_for_load_are_sent_again_after_retry_after(
    triton: TritonServer, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    # One request at a time and no queue: three of four concurrent uploads get 429 at first.
    env = gateway_env(triton, DATTAVANI_MAX_CONCURRENT_REQUESTS="1", DATTAVANI_MAX_QUEUED_REQUESTS="0")
    narrow = GatewayProcess(env, tmp_path_factory.mktemp("narrow-gateway") / "gateway.log").start()
    try:
        result, summary = _run_with_summary(
            narrow.url, tmp_path, *map(str, LIBRISPEECH[:4]), "--out", str(tmp_path / "out"), "--concurrency", "4"
        )
        refusals = narrow.log().count(" 429 ")
    finally:
        narrow.stop()
    assert result.returncode == 0, result.stderr
    assert (summary["done"], summary["failed"]) == (4, 0)
    assert refusals >= 1, "the test needs the gateway to have refused some uploads"


def test_corrupt_files_fail_with_the_servers_code_and_the_rest_are_written(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = EVAL_CLIPS[:2]
    for clip in good:
        shutil.copy(clip.path, inputs / clip.path.name)
    clip = EVAL_CLIPS[0].path
    (inputs / "notes.wav").write_text("meeting notes, not audio\n" * 20)
    expected_codes = {
        _corrupt_copy(clip, inputs / "cut.flac", keep=0.4): "corrupt_audio",
        _corrupt_copy(clip, inputs / "flipped.flac", flip_middle=True): "truncated_audio",
        inputs / "notes.wav": "not_audio",
    }
    result, summary = _run_with_summary(gateway.url, tmp_path, str(inputs), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert (summary["done"], summary["failed"]) == (len(good), len(expected_codes))
    for path, code in expected_codes.items():
        assert f"FAILED {path}: HTTP 400 {code}: " in result.stderr
    outputs = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert outputs == sorted(clip.path.stem + ".txt" for clip in good)


def test_directory_trees_are_mirrored_and_files_given_directly_go_on_top(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    inputs = tmp_path / "in"
    for folder in ("nested/a", "nested/b"):
        (inputs / folder).mkdir(parents=True)
    shutil.copy(LIBRISPEECH[0], inputs / LIBRISPEECH[0].name)
    shutil.copy(LIBRISPEECH[1], inputs / "nested" / "a" / "clip.flac")
    shutil.copy(LIBRISPEECH[2], inputs / "nested" / "b" / "clip.flac")
    result = _run_cli(gateway.url, str(inputs), str(JFK), "--out", str(tmp_path / "out"), "--format", "srt")
    assert result.returncode == 0, result.stderr
    outputs = {str(path.relative_to(tmp_path / "out")) for path in (tmp_path / "out").rglob("*") if path.is_file()}
    assert outputs == {f"{LIBRISPEECH[0].stem}.srt", "nested/a/clip.srt", "nested/b/clip.srt", "jfk.srt"}
    assert normalize(_srt_text(tmp_path / "out" / "jfk.srt")) == normalize(JFK_TEXT)


def test_failures_are_listed_and_the_exit_code_says_so(gateway: GatewayProcess, tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF but not really")
    result = _run_cli(gateway.url, str(JFK), str(broken), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert f"FAILED {broken}" in result.stderr
    assert "not_audio" in result.stderr
    assert normalize((tmp_path / "out" / "jfk.txt").read_text()) == normalize(JFK_TEXT)


def test_an_unreachable_gateway_fails_every_file_without_stopping(tmp_path: Path) -> None:
    result, summary = _run_with_summary(
        _unused_url(), tmp_path, str(JFK), str(LIBRISPEECH[0]), "--out", str(tmp_path / "out")
    )
    assert result.returncode == 1
    assert (summary["done"], summary["failed"]) == (0, 2)
    assert all("ClientConnectorError" in failure["reason"] for failure in summary["failures"])


def test_a_request_past_the_timeout_fails_that_file(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result, summary = _run_with_summary(url, tmp_path, str(JFK), "--out", str(tmp_path / "out"), "--timeout", "0.5")
    assert result.returncode == 1
    assert f"FAILED {JFK}: timed out after 0.5 s" in result.stderr
    assert summary["failed"] == 1


# The pure parts, without a server.


def test_plan_mirrors_directories_and_puts_files_given_directly_on_top(tmp_path: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    for name in ("in/a.flac", "in/sub/a.flac", "in/readme.txt", "b.ogg"):
        (tmp_path / name).write_bytes(b"x")
    jobs = plan_jobs([tmp_path / "in", tmp_path / "b.ogg", tmp_path / "in" / "a.flac"], tmp_path / "out", "vtt")
    assert [(job.audio.relative_to(tmp_path), job.output.relative_to(tmp_path)) for job in jobs] == [
        (Path("in/a.flac"), Path("out/a.vtt")),
        (Path("in/sub/a.flac"), Path("out/sub/a.vtt")),
        (Path("b.ogg"), Path("out/b.vtt")),
    ]


def test_two_inputs_writing_one_output_are_refused_before_anything_is_sent(tmp_path: Path) -> None:
    for name in ("a.flac", "a.ogg"):
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(OutputCollisionError, match=r"a\.ogg would both write"):
        plan_jobs([tmp_path], tmp_path / "out", "json")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["transcribe", str(tmp_path), "--out", str(tmp_path / "out"), "--url", _unused_url()])
    assert exit_info.value.code == 2


@pytest.mark.parametrize("args", [["--concurrency", "0"], ["--timeout", "-1"], ["--format", "docx"]])
def test_bad_options_are_usage_errors(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["transcribe", str(JFK), *args])
    assert exit_info.value.code == 2


def test_a_missing_input_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["transcribe", str(tmp_path / "typo"), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2


def test_only_a_non_empty_output_is_done(tmp_path: Path) -> None:
    assert not is_done(tmp_path / "absent.txt")
    (tmp_path / "empty.txt").write_bytes(b"")
    assert not is_done(tmp_path / "empty.txt")
    (tmp_path / "done.txt").write_text("hello\n")
    assert is_done(tmp_path / "done.txt")


@pytest.mark.parametrize("clip", load_dataset("eval-short") + load_dataset("eval-long"), ids=lambda clip: clip.id)
def test_the_probe_reads_the_manifests_durations(clip: Any) -> None:
    assert probe_seconds(clip.path) == pytest.approx(clip.seconds, abs=0.1)


def test_the_probe_never_raises(tmp_path: Path) -> None:
    (tmp_path / "notes.wav").write_text("not audio")
    cut = _corrupt_copy(JFK, tmp_path / "cut.flac", keep=0.01)
    for path in (tmp_path / "notes.wav", tmp_path / "absent.flac", tmp_path, cut):
        assert probe_seconds(path) >= 0.0


def test_summary_counts_audio_of_finished_files_only() -> None:
    done, failed = Job(Path("a.flac"), Path("a.txt"), 30.0), Job(Path("b.flac"), Path("b.txt"), 10.0)
    failure = Failure(failed.audio, "HTTP 400 not_audio: no")
    summary = Summary.of([(done, None), (failed, failure)], skipped=5, wall_seconds=4.0)
    assert (summary.done, summary.failed, summary.skipped) == (1, 1, 5)
    assert (summary.audio_seconds, summary.planned_audio_seconds) == (30.0, 40.0)
    assert summary.audio_seconds_per_second == 7.5
    assert summary.as_json()["failures"] == [{"path": "b.flac", "reason": "HTTP 400 not_audio: no"}]
    assert summary.line() == "done 1, failed 1, skipped 5: 30.0 s of audio in 4.0 s (7.5 audio-s/s)"
    assert Summary.of([], skipped=3, wall_seconds=0.0).audio_seconds_per_second == 0.0


def test_progress_counts_files_and_audio_and_ends_at_its_total() -> None:
    jobs = [Job(Path(f"{index}.flac"), Path(f"{index}.txt"), seconds) for index, seconds in enumerate([0.1, 0.2, 0.3])]
    stream = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # tqdm warns when the count passes the total
        progress = BatchProgress(jobs, stream)
        for job in reversed(jobs):
            progress.finished(job)
        progress.close()
    assert progress.bar.n == progress.bar.total == 600
    assert "3/3 files, 0.00/0.00 h audio 100%" in stream.getvalue()
    assert "audio-s/s" in stream.getvalue()


def test_progress_counts_files_when_no_length_is_known() -> None:
    jobs = [Job(Path("a.flac"), Path("a.txt")), Job(Path("b.flac"), Path("b.txt"))]
    progress = BatchProgress(jobs, io.StringIO())
    progress.finished(jobs[0])
    assert (progress.bar.n, progress.bar.total, progress.bar.unit) == (1, 2, "file")
    progress.close()


def test_an_output_is_replaced_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = tmp_path / "deep" / "a.txt"
    cli.write_atomically(output, b"first\n")
    cli.write_atomically(output, b"second\n")
    assert output.read_bytes() == b"second\n"

    def crash(descriptor: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        cli.write_atomically(output, b"third, never whole\n")
    assert output.read_bytes() == b"second\n"
    assert [path.name for path in output.parent.iterdir()] == ["a.txt"]


def test_a_failure_names_the_servers_error_code() -> None:
    body = json.dumps({"error": {"message": "not audio", "type": "invalid_request_error", "code": "not_audio"}})
    assert cli.http_reason(400, body.encode()) == "HTTP 400 not_audio: not audio"
    assert cli.http_reason(502, b"<html>Bad Gateway</html>\n") == "HTTP 502: <html>Bad Gateway</html>"


def test_a_multilingual_model_translates_and_a_given_language_is_sent(gateway: GatewayProcess, tmp_path: Path) -> None:
    # The clip the multilingual tests translate on every host so far: base int8 on an AVX2-only CPU gives
    # de-fleurs-001's back in German without timestamps (docs/performance.md, "int8 on AVX2 without VNNI").
    german = AUDIO_DIR / "multilingual" / "de-fleurs-000.ogg"
    translated = _run_cli(
        gateway.url, str(german), "--out", str(tmp_path / "en"), "--model", "whisper-base", "--translate"
    )
    assert translated.returncode == 0, translated.stderr
    # English, though which English differs between hosts' int8 kernels (AMX: "He wrote everything he could, ...")
    english = set(words_of((tmp_path / "en" / "de-fleurs-000.txt").read_text()))
    assert english & (ENGLISH_FUNCTION_WORDS | ENGLISH_PRONOUNS) and not english & GERMAN_FUNCTION_WORDS, english
    refused = _run_cli(gateway.url, str(german), "--out", str(tmp_path / "de"), "--language", "de")
    assert refused.returncode == 1 and "unsupported_language" in refused.stderr  # the default model is English-only
