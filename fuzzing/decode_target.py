"""`python -m fuzzing.decode_target`: coverage-guided fuzzing (atheris/libFuzzer) of the gateway's audio decoding.

The target decodes bytes exactly as the gateway does (`decode_audio` under the gateway's limits,
then `validate_pcm`). The typed errors of `whisper_runtime.errors` are the allowed outcomes; any
other exception, a crash inside FFmpeg, an input running past libFuzzer's `-timeout`, or one taking
over 5 s (a libFuzzer slow unit: a tiny input that costs that much is a denial of service) is a
finding, saved in `.run/fuzz/decode-findings/`.
Seeds are short encodings in every format the corpus knows (`fuzzing.corpus`); the corpus grows in
`.run/fuzz/decode-corpus/` from run to run.

libFuzzer stops at the first finding. To see more than one bug per run, this command drives
workers: after a worker stops on a finding it starts another for the time left, which treats the
exceptions already found (same type, raised in the same function) as allowed, and drops the
finding's input from the corpus. It prints and writes (`decode-report.json`) the executions, the
time and one input per distinct finding; it exits 1 when there is any.

Coverage feedback comes from the Python code atheris instruments (whisper_runtime.audio); FFmpeg
is not built with coverage, so inside the C decoders this is mutation fuzzing. Other arguments go
to libFuzzer (`-max_total_time=300`, `-runs=1000`, `-seed=1`); without `-max_total_time` it runs 60 s.
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

import whisper_runtime.audio
from fuzzing.corpus import ENCODINGS, LONG_VARIANTS, case, encoded, long_upload
from whisper_runtime.audio import SAMPLE_RATE, DecodeLimits, decode_audio, validate_pcm
from whisper_runtime.errors import InvalidAudioError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WORKDIR = PROJECT_ROOT / ".run" / "fuzz"
# Limits as in the test gateway (tests/conftest.py), tighter than the shipped defaults: the same code
# paths, but every input decodes fast and the length checks are reached often.
MAX_AUDIO_SECONDS = 30.0
DECODE_TIMEOUT_S = 10.0
# At most 30 s of audio from at most MAX_INPUT_BYTES decodes in well under a second; 5 s is amplification.
SLOW_UNIT_S = 5
SEED_CASES = 64
MAX_INPUT_BYTES = 256 * 1024
DEFAULT_SECONDS = 60
MAX_WORKERS = 25
DEFAULT_FLAGS = (
    f"-max_len={MAX_INPUT_BYTES}",
    f"-timeout={int(DECODE_TIMEOUT_S * 3)}",  # a hang: well past the decode timeout the code enforces itself
    f"-report_slow_units={SLOW_UNIT_S}",
    "-rss_limit_mb=4096",
    "-print_final_stats=1",
)
ARTIFACTS = ("crash-", "timeout-", "oom-", "slow-unit-", "leak-")


class UnexpectedDecodeError(AssertionError):
    """Decoding returned, but not 16 kHz mono float32 PCM within the limits."""


def check_decode(data: bytes) -> np.ndarray | None:
    """Decode `data` as the gateway does: PCM, or None for a typed refusal; anything else propagates."""
    try:
        pcm = decode_audio(io.BytesIO(data), DecodeLimits(max_seconds=MAX_AUDIO_SECONDS, timeout_s=DECODE_TIMEOUT_S))
        pcm = validate_pcm(pcm, max_samples=None)
    except InvalidAudioError:
        return None
    if pcm.dtype != np.float32 or pcm.ndim != 1 or pcm.size == 0:
        raise UnexpectedDecodeError(f"decoded to {pcm.dtype} of shape {pcm.shape}")
    if pcm.size > MAX_AUDIO_SECONDS * SAMPLE_RATE + SAMPLE_RATE:  # one frame of slack past the limit check
        raise UnexpectedDecodeError(f"decoded {pcm.size / SAMPLE_RATE:.1f} s past the {MAX_AUDIO_SECONDS} s limit")
    return pcm


def signature(error: BaseException) -> str:
    """What makes two findings the same bug: the exception's type and the function that raised it."""
    frame = traceback.extract_tb(error.__traceback__)[-1]
    return f"{type(error).__name__} in {Path(frame.filename).name}:{frame.name}"


def write_seeds(folder: Path) -> int:
    """Seed inputs: every encoding, the long uploads, and the first corpus cases that fit `MAX_INPUT_BYTES`."""
    folder.mkdir(parents=True, exist_ok=True)
    seeds = [encoded(index) for index in range(len(ENCODINGS))]
    seeds += [long_upload(variant)[1] for variant in LONG_VARIANTS]
    seeds += [case(0, index).data for index in range(SEED_CASES)]
    written = 0
    for number, data in enumerate(seeds):
        if 0 < len(data) <= MAX_INPUT_BYTES:
            (folder / f"seed-{number:03d}").write_bytes(data)
            written += 1
    return written


def _worker(workdir: Path, tolerated: set[str], libfuzzer_flags: list[str]) -> None:
    """One libFuzzer run; exits the process (0: budget spent, else a finding whose signature it leaves behind)."""
    import atheris

    for function in vars(whisper_runtime.audio).values():  # in place: check_decode runs the instrumented code
        if inspect.isfunction(function) and function.__module__ == whisper_runtime.audio.__name__:
            atheris.instrument_func(function)
    corpus, findings = workdir / "decode-corpus", workdir / "decode-findings"
    last_signature = workdir / "last-signature"

    def target(data: bytes) -> None:
        try:
            check_decode(bytes(data))
        except Exception as error:
            if signature(error) in tolerated:
                return
            last_signature.write_text(signature(error))
            raise

    atheris.Setup([sys.argv[0], *DEFAULT_FLAGS, f"-artifact_prefix={findings}/", *libfuzzer_flags, str(corpus)], target)
    atheris.Fuzz()


def _drop_from_corpus(corpus: Path, data: bytes) -> None:
    for path in corpus.iterdir():
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            path.unlink()


def drive(workdir: Path, libfuzzer_flags: list[str]) -> dict[str, object]:
    """Workers one after another until the time (or each worker's -runs) is spent; the distinct findings."""
    seconds = next((int(f.split("=", 1)[1]) for f in libfuzzer_flags if f.startswith("-max_total_time=")), None)
    flags = [f for f in libfuzzer_flags if not f.startswith("-max_total_time=")]
    corpus, findings_dir = workdir / "decode-corpus", workdir / "decode-findings"
    findings_dir.mkdir(parents=True, exist_ok=True)
    seeds = write_seeds(corpus)
    print(f"fuzzing.decode_target: {seeds} seeds in {corpus}, findings in {findings_dir}/", flush=True)
    started = time.monotonic()
    deadline = started + (seconds or DEFAULT_SECONDS)
    findings: dict[str, str] = {}
    executions, workers = 0, 0
    last_signature = workdir / "last-signature"
    while workers < MAX_WORKERS and (left := int(deadline - time.monotonic())) > 2:
        before = set(findings_dir.iterdir())
        last_signature.unlink(missing_ok=True)
        tolerate = [argument for found in findings for argument in ("--tolerate", found)]
        command = [sys.executable, "-m", "fuzzing.decode_target", "--worker", "--workdir", str(workdir), *tolerate]
        result = subprocess.run(
            [*command, *flags, f"-max_total_time={left}"], capture_output=True, text=True, check=False
        )
        workers += 1
        executions += sum(int(n) for n in re.findall(r"stat::number_of_executed_units: (\d+)", result.stderr))
        new = sorted(path for path in set(findings_dir.iterdir()) - before if path.name.startswith(ARTIFACTS))
        for artifact in new:
            kind = artifact.name.rsplit("-", 1)[0]
            found = last_signature.read_text() if kind == "crash" and last_signature.exists() else kind
            if found not in findings:
                findings[found] = str(artifact.relative_to(workdir))
                print(f"  worker {workers}: new finding {found} ({artifact.name})", flush=True)
            _drop_from_corpus(corpus, artifact.read_bytes())
        if result.returncode == 0:
            break
        if not new:  # stopped without saying why: show it and stop
            print(result.stderr[-3000:], file=sys.stderr)
            findings[f"worker exited with {result.returncode}"] = ""
            break
    return {
        "seconds": round(time.monotonic() - started, 1),
        "executions": executions,
        "workers": workers,
        "findings": findings,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzzing.decode_target", description=__doc__)
    parser.add_argument("--workdir", type=Path, default=WORKDIR, help="seeds, corpus, findings and report (.run/fuzz)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tolerate", action="append", default=[], help=argparse.SUPPRESS)
    args, libfuzzer_flags = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if args.worker:
        _worker(args.workdir, set(args.tolerate), libfuzzer_flags)
    report = drive(args.workdir, libfuzzer_flags)
    (args.workdir / "decode-report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 1 if report["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
