"""`python -m batch_client transcribe FILE_OR_DIR...`: transcribe audio files through the gateway, concurrently.

Each input gets one output in --out (a directory's tree is mirrored), written atomically, so a
rerun skips what is done (--overwrite redoes it). A progress bar on stderr counts files and audio
hours; the run ends with a summary line and `FAILED <file>: <reason>` per failure, exit code 1 if any.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from batch_client.jobs import Failure, Job, OutputCollisionError, Summary, is_done, plan_jobs, with_durations
from batch_client.progress import BatchProgress
from gateway.params import RESPONSE_FORMATS

DEFAULT_TIMEOUT_S = 900.0  # per request: long files take minutes
# A 429 (the gateway's queue is full) is sent again after its Retry-After, up to this many attempts.
MAX_ATTEMPTS = 10
MAX_RETRY_WAIT_S = 30.0


@dataclass(frozen=True)
class BatchOptions:
    url: str
    api_key: str
    response_format: str
    model: str | None  # None: the gateway's default model
    language: str | None  # None: the model detects it (multilingual models)
    route: str  # "transcriptions", or "translations" (into English)
    out: Path
    concurrency: int
    timeout_s: float
    overwrite: bool
    summary_json: Path | None


@functools.cache
def _file_mode() -> int:
    """What a plain open() would give a new file under this process's umask (temporary files get 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it over `path`: never a partial `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), _file_mode())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def http_reason(status: int, body: bytes) -> str:
    """`HTTP 400 not_audio: message` from the gateway's JSON error body, else the start of the body."""
    with contextlib.suppress(ValueError, TypeError, KeyError):
        error = json.loads(body)["error"]
        return f"HTTP {status} {error['code']}: {error['message']}"
    return f"HTTP {status}: {body.decode(errors='replace').strip()[:300]}"


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    """Seconds to wait before sending again when the gateway refused for load (429 + Retry-After)."""
    if response.status != 429:
        return None
    with contextlib.suppress(TypeError, ValueError):
        return min(float(response.headers["Retry-After"]), MAX_RETRY_WAIT_S)
    return None


async def _post(session: aiohttp.ClientSession, options: BatchOptions, job: Job) -> tuple[int, bytes, float | None]:
    """One POST of the job's file: status, body, and the wait asked for before a retry (if any)."""
    with job.audio.open("rb") as audio:
        form = aiohttp.FormData()
        form.add_field("file", audio, filename=job.audio.name, content_type="application/octet-stream")
        form.add_field("response_format", options.response_format)
        for name, value in (("model", options.model), ("language", options.language)):
            if value:
                form.add_field(name, value)
        async with session.post(f"{options.url}/v1/audio/{options.route}", data=form) as response:
            return response.status, await response.read(), _retry_after(response)


async def _transcribe(session: aiohttp.ClientSession, options: BatchOptions, job: Job) -> Failure | None:
    try:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            status, body, retry_after = await _post(session, options, job)
            if retry_after is None or attempt == MAX_ATTEMPTS:
                break
            await asyncio.sleep(retry_after)
        if status != 200:
            return Failure(job.audio, http_reason(status, body))
        write_atomically(job.output, body)
    except TimeoutError:
        return Failure(job.audio, f"timed out after {options.timeout_s:g} s")
    except (OSError, aiohttp.ClientError) as exc:
        return Failure(job.audio, f"{type(exc).__name__}: {exc}")
    return None


async def transcribe_jobs(jobs: list[Job], options: BatchOptions) -> list[tuple[Job, Failure | None]]:
    """Send every job, at most `concurrency` at a time; a failure is recorded and the rest go on."""
    headers = {"Authorization": f"Bearer {options.api_key}"} if options.api_key else {}
    timeout = aiohttp.ClientTimeout(total=options.timeout_s)
    finished: list[tuple[Job, Failure | None]] = []
    pending = iter(jobs)
    progress = BatchProgress(jobs)

    async def worker(session: aiohttp.ClientSession) -> None:
        for job in pending:  # one shared iterator: each job is taken by exactly one worker
            finished.append((job, await _transcribe(session, options, job)))
            progress.finished(job)

    try:
        connector = aiohttp.TCPConnector(limit=options.concurrency)
        async with aiohttp.ClientSession(headers=headers, timeout=timeout, connector=connector) as session:
            await asyncio.gather(*(worker(session) for _ in range(options.concurrency)))
    finally:
        progress.close()
    return finished


def run(inputs: list[Path], options: BatchOptions) -> Summary:
    started = time.monotonic()
    jobs = plan_jobs(inputs, options.out, options.response_format)
    todo = jobs if options.overwrite else [job for job in jobs if not is_done(job.output)]
    finished = asyncio.run(transcribe_jobs(with_durations(todo), options)) if todo else []
    return Summary.of(finished, skipped=len(jobs) - len(todo), wall_seconds=time.monotonic() - started)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m batch_client", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    transcribe = commands.add_parser("transcribe", help="transcribe files and directories")
    transcribe.add_argument("inputs", nargs="+", type=Path, help="audio files and directories (searched recursively)")
    transcribe.add_argument("--url", default="http://127.0.0.1:8080", help="gateway base URL")
    transcribe.add_argument("--api-key", default=os.environ.get("DATTAVANI_API_KEY", ""), help="or $DATTAVANI_API_KEY")
    transcribe.add_argument("--format", choices=RESPONSE_FORMATS, default="text")
    transcribe.add_argument("--model", help="served model (default: the gateway's default; see GET /v1/models)")
    transcribe.add_argument("--language", help="the spoken language, code or name (default: detected)")
    transcribe.add_argument("--translate", action="store_true", help="translate into English (multilingual models)")
    transcribe.add_argument("--out", type=Path, default=Path("transcripts"), help="output directory")
    transcribe.add_argument("--concurrency", type=_positive_int, default=4, help="requests in flight (default 4)")
    transcribe.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds per request (default {DEFAULT_TIMEOUT_S:g})",
    )
    transcribe.add_argument("--overwrite", action="store_true", help="redo inputs whose output already exists")
    transcribe.add_argument("--summary-json", type=Path, help="also write the summary as JSON to this file")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    missing = [str(path) for path in args.inputs if not path.exists()]
    if missing:
        parser.error(f"no such file or directory: {', '.join(missing)}")
    options = BatchOptions(
        url=args.url.rstrip("/"),
        api_key=args.api_key,
        response_format=args.format,
        model=args.model,
        language=args.language,
        route="translations" if args.translate else "transcriptions",
        out=args.out,
        concurrency=args.concurrency,
        timeout_s=args.timeout,
        overwrite=args.overwrite,
        summary_json=args.summary_json,
    )
    try:
        summary = run(args.inputs, options)
    except OutputCollisionError as exc:
        parser.error(str(exc))
    except KeyboardInterrupt:
        print("interrupted: finished outputs are kept; run again to resume", file=sys.stderr)
        return 130
    if summary.done + summary.failed + summary.skipped == 0:
        print("no audio files found", file=sys.stderr)
        return 1
    print(f"{summary.line()}; outputs in {options.out}", file=sys.stderr)
    for failure in summary.failures:
        print(f"FAILED {failure.path}: {failure.reason}", file=sys.stderr)
    if options.summary_json:
        write_atomically(options.summary_json, json.dumps(summary.as_json(), indent=2).encode() + b"\n")
    return 1 if summary.failures else 0
