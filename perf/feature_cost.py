"""`python -m perf.feature_cost`: what a request feature costs (or saves), measured as the same request with
the feature and without it, through a real local stack (Triton and the gateway, int8, tiny.en).

Each case names its audio and two sets of form fields, A (with the feature) and B (without). Every
round sends all of the case's recordings once as A and once as B, sequentially, the order of A and B
swapped each round so that a drifting machine moves both alike; after one untimed warm-up of each.
Reported per case: the median wall time of each variant over the rounds, their ratio A/B (below 1:
the feature saves time), the paired median of per-round ratios, and the WER of each variant's
transcripts (perf.accuracy). Results go to perf/results/feature_cost.{json,md}.

A case is a `Case(name, recordings, fields_a, fields_b)`; add one to CASES.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import requests

from devstack.stack import local_stack
from fuzzing.synthesis import s16, wav
from perf.accuracy import word_error_rate
from perf.datasets import Clip, load_dataset
from perf.provenance import describe_host, host, provenance
from whisper_runtime.audio import SAMPLE_RATE, decode_audio
from whisper_runtime.repository import DEFAULT_MODEL

RESULTS = Path(__file__).resolve().parent / "results"
# The padded recording: LibriSpeech utterances, each after GAP_S of non-speech (half digital silence, then
# half low white noise at NOISE_RMS, about -50 dBFS), so that most of the recording holds no speech.
PADDED_CLIPS = ("1089-134686-0000", "1221-135766-0001", "1089-134691-0001")
GAP_S = 60.0
NOISE_RMS = 0.003
NOISE_SEED = 20261203

Fields = dict[str, str]


@dataclass(frozen=True)
class Recording:
    """One upload of a case: WAV bytes, its reference transcript, and where its speech lies (seconds)."""

    name: str
    wav: bytes
    reference: str
    seconds: float
    speech: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Case:
    name: str
    recordings: Callable[[], list[Recording]]
    fields_a: Fields  # with the feature
    fields_b: Fields  # without it


def non_speech(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """`seconds` without speech: digital silence, then low white noise."""
    samples = round(seconds * SAMPLE_RATE)
    silence = np.zeros(samples // 2, dtype=np.float32)
    noise = (NOISE_RMS * rng.standard_normal(samples - silence.size)).astype(np.float32)
    return np.concatenate([silence, noise])


def padded_recording(clips: Sequence[Clip], gap_s: float = GAP_S, seed: int = NOISE_SEED) -> Recording:
    """`clips` one after another, each preceded by `gap_s` of non-speech; `speech` says where each clip lies."""
    rng = np.random.default_rng(seed)
    parts: list[np.ndarray] = []
    speech = []
    at = 0
    for clip in clips:
        gap, pcm = non_speech(gap_s, rng), decode_audio(clip.path)
        parts += [gap, pcm]
        at += gap.size
        speech.append((at / SAMPLE_RATE, (at + pcm.size) / SAMPLE_RATE))
        at += pcm.size
    pcm = np.concatenate(parts)
    name = f"{'+'.join(clip.id for clip in clips)} each after {gap_s:g} s of silence and noise"
    reference = " ".join(clip.reference for clip in clips)
    return Recording(name, wav(s16(pcm)), reference, pcm.size / SAMPLE_RATE, tuple(speech))


@cache
def padded_librispeech() -> Recording:
    """The padded recording of PADDED_CLIPS (212 s, 32 s of it speech)."""
    by_id = {clip.id: clip for clip in load_dataset("librispeech")}  # nosec B615  # a local manifest, not a hub
    return padded_recording([by_id[clip] for clip in PADDED_CLIPS])


@cache
def librispeech() -> list[Recording]:
    """The LibriSpeech utterances as they are, one upload each."""
    return [
        Recording(clip.id, clip.path.read_bytes(), clip.reference, decode_audio(clip.path).size / SAMPLE_RATE)
        for clip in load_dataset("librispeech")  # nosec B615  # a local manifest, not a hub
    ]


CASES = (
    Case(
        "chunking_strategy=auto on speech padded with silence and noise",
        lambda: [padded_librispeech()],
        {"chunking_strategy": "auto", "response_format": "verbose_json"},
        {"response_format": "verbose_json"},
    ),
    Case(
        "word timestamps on LibriSpeech",
        librispeech,
        {"timestamp_granularities[]": "word", "response_format": "verbose_json"},
        {"response_format": "verbose_json"},
    ),
)


def summarise(
    case: Case,
    recordings: Sequence[Recording],
    seconds_a: Sequence[float],
    seconds_b: Sequence[float],
    texts_a: Sequence[str],
    texts_b: Sequence[str],
) -> dict[str, object]:
    """A case's result from the wall times of its rounds (all recordings once) and one transcript per recording."""
    references = [recording.reference for recording in recordings]
    median_a, median_b = statistics.median(seconds_a), statistics.median(seconds_b)
    return {
        "case": case.name,
        "recordings": [recording.name for recording in recordings],
        "audio_seconds": round(sum(recording.seconds for recording in recordings), 3),
        "fields_a": case.fields_a,
        "fields_b": case.fields_b,
        "rounds": len(seconds_a),
        "a": {"median_s": round(median_a, 4), "runs_s": [round(s, 4) for s in seconds_a]},
        "b": {"median_s": round(median_b, 4), "runs_s": [round(s, 4) for s in seconds_b]},
        "time_ratio": round(median_a / median_b, 4),
        "paired_time_ratio": round(statistics.median(a / b for a, b in zip(seconds_a, seconds_b, strict=True)), 4),
        "wer_a": round(word_error_rate(references, texts_a), 2),
        "wer_b": round(word_error_rate(references, texts_b), 2),
    }


COLUMNS = ("case", "A (with)", "B (without)", "audio s", "A s", "B s", "A/B time", "WER A %", "WER B %")


def markdown(document: dict[str, Any]) -> str:
    """The short table of a result document."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in document["results"]:
        fields_a = ", ".join(f"{k}={v}" for k, v in r["fields_a"].items())
        fields_b = ", ".join(f"{k}={v}" for k, v in r["fields_b"].items()) or "-"
        lines.append(
            f"| {r['case']} | {fields_a} | {fields_b} | {r['audio_seconds']:.1f} | {r['a']['median_s']:.2f} | "
            f"{r['b']['median_s']:.2f} | {r['time_ratio']:.3f} | {r['wer_a']:.2f} | {r['wer_b']:.2f} |"
        )
    return (
        "\n".join(lines)
        + f"\n\nMedians of {document['rounds']} interleaved rounds; {describe_host(document['host'])}; "
        + f"made {document['created']} by `{document['command']}`.\n"
    )


def transcript_text(response: requests.Response) -> str:
    response.raise_for_status()
    if response.headers.get("Content-Type", "").startswith("application/json"):
        return str(response.json()["text"])
    return response.text.strip()


def measure(case: Case, post: Callable[[Recording, Fields], str], rounds: int) -> dict[str, object]:
    recordings = case.recordings()
    for fields in (case.fields_a, case.fields_b):  # warm-up: connections, sessions, caches
        post(recordings[0], fields)
    seconds: dict[str, list[float]] = {"a": [], "b": []}
    texts: dict[str, list[str]] = {}
    for round_ in range(rounds):
        order = ("a", "b") if round_ % 2 == 0 else ("b", "a")
        for variant in order:
            fields = case.fields_a if variant == "a" else case.fields_b
            started = time.perf_counter()
            answers = [post(recording, fields) for recording in recordings]
            seconds[variant].append(time.perf_counter() - started)
            texts.setdefault(variant, answers)
    return summarise(case, recordings, seconds["a"], seconds["b"], texts["a"], texts["b"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf.feature_cost", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--case", action="append", help="run only the cases whose names start with this")
    parser.add_argument("--out", type=Path, default=RESULTS / "feature_cost.json")
    args = parser.parse_args(argv)
    cases = [case for case in CASES if not args.case or any(case.name.startswith(p) for p in args.case)]
    with local_stack(Path(".run") / "perf-feature-cost", models=(DEFAULT_MODEL,)) as stack:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {stack.api_key}"
        url = f"{stack.gateway.url}/v1/audio/transcriptions"

        def post(recording: Recording, fields: Fields) -> str:
            files = {"file": (f"{recording.name[:40]}.wav", recording.wav)}
            return transcript_text(session.post(url, files=files, data=fields, timeout=600))

        results = [measure(case, post, args.rounds) for case in cases]
    document = {
        "rounds": args.rounds,
        "precision": "int8",
        "model": DEFAULT_MODEL,
        "host": host(),
        "results": results,
        **provenance("perf.feature_cost", argv),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(document))
    print(markdown(document), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
