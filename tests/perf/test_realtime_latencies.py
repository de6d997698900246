"""make realtime-bench's measures, on a stream result written by hand: first delta from the start of speech
(audio_start_ms + prefix padding), completed from the end of speech (audio_end_ms - the silence waited for)."""

from __future__ import annotations

from live_client.stream import StreamResult, Utterance
from perf.realtime import PREFIX_PADDING_MS, SILENCE_MS, latencies, report


def test_latencies_count_from_the_speech_itself_and_skip_what_never_completed() -> None:
    result = StreamResult(started_at=100.0, speed=1.0)
    start, end = 1000, 4000  # ms of audio: speech from 1300 to 3500
    result.utterances["a"] = Utterance("a", start, end, deltas=[(101.3 + 0.8, "And"), (103.0, " so")],
                                       transcript="And so.", completed_at=100.0 + 3.5 + 0.7)  # fmt: skip
    result.utterances["b"] = Utterance("b", 5000, 6000, transcript="Yes.", completed_at=100.0 + 5.5 + 0.9)
    result.utterances["c"] = Utterance("c", 7000)  # still open when the stream ended
    result.errors.append({"type": "error"})
    measured = latencies([result])
    assert (start + PREFIX_PADDING_MS, end - SILENCE_MS) == (1300, 3500)
    assert (measured["utterances"], measured["without_text"], measured["with_partial_text"]) == (2, 1, 1)
    assert measured["first_delta_s"] == {"p50": 0.8, "p95": 0.8}
    assert measured["completed_s"]["p50"] == 0.8 and measured["completed_s"]["p95"] == 0.89
    assert measured["errors"] == 1


def test_the_report_names_the_host_and_every_run() -> None:
    run = latencies([StreamResult(started_at=0.0, speed=1.0)])
    assert run["first_delta_s"] == {"p50": None, "p95": None}  # nothing measured is not a number
    host = {
        "cpu": "AMD EPYC",
        "cpus": 2,
        "flags": ["avx2"],
        "onnxruntime": "1.23",
        "providers": ["CPUExecutionProvider"],
    }
    text = report({"host": host, "command": "python -m perf.realtime", "created": "2026-12-04T00:00:00Z",
                   "runs": {"1": run, "20": run}, "rounds": 3, "max_sessions": 20,
                   "refused_close_code": 1013})  # fmt: skip
    assert "AMD EPYC, 2 CPUs (avx2" in text and "| 1 | 0 (+0 without text)" in text and "| 20 |" in text
    assert "Session 21 past the limit of 20: close code 1013." in text
    assert "played the clips 3 times in a row" in text
