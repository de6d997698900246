"""Which precision runs a model faster on this host: the same work timed in int8 and fp32, and its record.

int8 is twice as fast as fp32 where the CPU has VNNI, and barely faster (or slower) where it has AVX2 only, so
the precision is measured, not assumed. The work is one 10 s window encoded and TOKENS decoder steps with the
KV cache, teacher-forced so that both precisions decode the same number of tokens; the rounds alternate between
the precisions so that a host whose speed drifts moves both alike. The choice is kept in a JSON record with the
host and the export it was measured on, and measured again only when either changes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from whisper_runtime.audio import SAMPLE_RATE
from whisper_runtime.engine import EngineOptions, load_decoder_sessions, load_encoder
from whisper_runtime.host import Host, this_host
from whisper_runtime.model_files import ModelFiles
from whisper_runtime.prompts import PromptRules
from whisper_runtime.repository import DEFAULT_REPOSITORY, PRECISIONS, Precision, exported_models, file_sha256
from whisper_runtime.sessions import SessionOptions

TOKENS = 40  # decoder steps per run: the text of a 10 s LibriSpeech clip
ROUNDS = 5  # timed runs per precision, after one warm-up run each
# The whole calibration (every model measured, loading and warm-up included) must take at most 30 s; rounds stop
# once a model's share of this is spent (each precision keeps at least one timed run), leaving the rest to slack.
BUDGET_S = 24.0
INT8_MARGIN = 1.05  # int8 must be this much faster to be chosen: a tie within noise keeps the reference precision
FORCED_TEXT = " And so my fellow Americans, ask not what your country can do for you, ask what you can do."


@dataclass(frozen=True)
class Calibration:
    """One model's measurement: median seconds per run of each precision, and the precision chosen."""

    model: str
    export: str  # the sha256 of the export's manifest: its weights
    seconds: dict[str, float]
    precision: Precision
    created: str


def choose_precision(seconds: dict[str, float]) -> Precision:
    """int8 where it is at least INT8_MARGIN times faster than fp32, else fp32."""
    return "int8" if seconds["fp32"] >= INT8_MARGIN * seconds["int8"] else "fp32"


def _workload(files: ModelFiles, precision: Precision, threads: int) -> Callable[[], None]:
    """One run of the calibration's work in `precision`, ready to be timed."""
    options = EngineOptions(precision=precision, session=SessionOptions(intra_op_threads=threads))
    encoder, sessions = load_encoder(files, options), load_decoder_sessions(files, options)
    rng = np.random.default_rng(0)
    features = encoder.features([(0.1 * rng.standard_normal(10 * SAMPLE_RATE)).astype(np.float32)])
    special = files.tokenizer.special
    prompt = PromptRules(special).build(language="en" if special.multilingual else None)
    text = files.tokenizer.encode(FORCED_TEXT)
    forced = [np.array([text[step % len(text)]]) for step in range(TOKENS)]

    def run() -> None:
        _, cache = sessions.first_step([prompt], encoder.encode(features))
        for token in forced:
            _, cache = sessions.next_step(token, cache)

    return run


def measure(
    files: ModelFiles, threads: int, budget_s: float = BUDGET_S, precisions: Sequence[Precision] = PRECISIONS
) -> dict[str, float]:
    """Median seconds per run of each precision, rounds interleaved; a round starts only where one more would end
    within `budget_s` (from loading the sessions on), and the first always does."""
    deadline = time.monotonic() + budget_s
    runs = {precision: _workload(files, precision, threads) for precision in precisions}
    for run in runs.values():
        run()  # warm-up: first-run allocations are not the steady state
    timings: dict[str, list[float]] = {precision: [] for precision in precisions}
    for _ in range(ROUNDS):
        for precision, run in runs.items():
            start = time.perf_counter()
            run()
            timings[precision].append(time.perf_counter() - start)
        if time.monotonic() + sum(times[-1] for times in timings.values()) > deadline:
            break
    return {precision: round(statistics.median(times), 4) for precision, times in timings.items()}


def calibrate(files: ModelFiles, export: str, budget_s: float = BUDGET_S, threads: int = 1) -> Calibration:
    """`files` measured now, within `budget_s`; `export` is the sha256 of its manifest, recorded with the result."""
    seconds = measure(files, threads, budget_s)
    return Calibration(
        model=files.name,
        export=export,
        seconds=seconds,
        precision=choose_precision(seconds),
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )


def _recorded(record: Path, host: Host) -> dict[str, dict]:
    """The record's calibrations by model, where it was made on `host`; none otherwise."""
    try:
        document = json.loads(record.read_text())
    except (OSError, ValueError):
        return {}
    return document.get("models", {}) if document.get("host") == host.as_dict() else {}


def _kept(entry: object, export: str) -> Calibration | None:
    """A recorded calibration of this export, None if there is none (or it is of another export, or unreadable)."""
    if not isinstance(entry, dict) or entry.get("export") != export:
        return None
    try:
        return Calibration(**entry)
    except TypeError:  # written by another version of this module
        return None


def calibrated_precisions(repository: Path, models: Sequence[str], record: Path) -> dict[str, Calibration]:
    """Each model's calibration: from `record` where it holds one of this host and this export, else measured
    now (one model at a time, sharing BUDGET_S: each gets an equal part of what the ones before left) and written
    to `record`."""
    deadline = time.monotonic() + BUDGET_S
    host = this_host()
    recorded = _recorded(record, host)
    calibrations: dict[str, Calibration] = {}
    unmeasured: list[tuple[ModelFiles, str]] = []
    for model in models:
        files = ModelFiles.load(repository, model)
        export = file_sha256(files.layout.manifest)
        kept = _kept(recorded.get(model), export)
        if kept is None:
            unmeasured.append((files, export))
        else:
            calibrations[model] = kept
    for index, (files, export) in enumerate(unmeasured):
        share = max(0.0, deadline - time.monotonic()) / (len(unmeasured) - index)
        calibrations[files.name] = calibrate(files, export, share)
    calibrations = {model: calibrations[model] for model in models}
    document = {"host": host.as_dict(), "models": {**recorded, **{m: asdict(c) for m, c in calibrations.items()}}}
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(document, indent=2) + "\n")
    return calibrations


def describe(calibration: Calibration) -> str:
    seconds = ", ".join(f"{precision} {s * 1000:.0f} ms" for precision, s in calibration.seconds.items())
    return f"{calibration.model}: {calibration.precision} ({seconds} per calibration run)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m whisper_runtime.calibration", description=__doc__)
    parser.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY)
    parser.add_argument("--model", dest="models", nargs="+", help="default: every exported model")
    parser.add_argument("--record", type=Path, required=True, help="the JSON record to read and write")
    args = parser.parse_args(argv)
    models = args.models or exported_models(args.repository)
    for calibration in calibrated_precisions(args.repository, models, args.record).values():
        print(describe(calibration))
    return 0


if __name__ == "__main__":
    sys.exit(main())
