"""`python -m gateway.cli transcribe FILE_OR_DIR...`: send audio files to the gateway concurrently.

Writes one output per input (`<name>.<format extension>` in --out), shows a progress bar, and
exits 1 listing the files that failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from tqdm import tqdm

from gateway.params import RESPONSE_FORMATS

EXTENSIONS = {"json": "json", "verbose_json": "json", "text": "txt", "srt": "srt", "vtt": "vtt"}
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm", ".mp4", ".mka", ".wma"}


@dataclass(frozen=True)
class Failure:
    path: Path
    reason: str


def collect_inputs(paths: list[Path]) -> list[Path]:
    """Files given directly, and audio files found under given directories, in a stable order."""
    inputs: list[Path] = []
    for path in paths:
        if path.is_dir():
            inputs += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
        else:
            inputs.append(path)
    return inputs


def output_path(audio: Path, out_dir: Path, response_format: str) -> Path:
    return out_dir / f"{audio.stem}.{EXTENSIONS[response_format]}"


async def _transcribe_one(
    session: aiohttp.ClientSession, url: str, audio: Path, out_dir: Path, response_format: str
) -> Failure | None:
    try:
        form = aiohttp.FormData()
        form.add_field("file", audio.read_bytes(), filename=audio.name)
        form.add_field("response_format", response_format)
        async with session.post(f"{url}/v1/audio/transcriptions", data=form) as response:
            body = await response.text()
            if response.status != 200:
                return Failure(audio, f"HTTP {response.status}: {body.strip()[:300]}")
    except (TimeoutError, OSError, aiohttp.ClientError) as exc:
        return Failure(audio, f"{type(exc).__name__}: {exc}")
    output_path(audio, out_dir, response_format).write_text(body)
    return None


async def transcribe_all(
    inputs: list[Path], url: str, api_key: str, out_dir: Path, response_format: str, concurrency: int
) -> list[Failure]:
    out_dir.mkdir(parents=True, exist_ok=True)
    slots = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:

        async def bounded(audio: Path) -> Failure | None:
            async with slots:
                return await _transcribe_one(session, url, audio, out_dir, response_format)

        failures = []
        with tqdm(total=len(inputs), unit="file", file=sys.stderr) as progress:
            for finished in asyncio.as_completed([bounded(audio) for audio in inputs]):
                failure = await finished
                if failure:
                    failures.append(failure)
                progress.update()
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    transcribe = commands.add_parser("transcribe", help="transcribe files and directories")
    transcribe.add_argument("inputs", nargs="+", type=Path)
    transcribe.add_argument("--url", default="http://127.0.0.1:8080", help="gateway base URL")
    transcribe.add_argument("--api-key", default=os.environ.get("DATTAVANI_API_KEY", ""), help="or $DATTAVANI_API_KEY")
    transcribe.add_argument("--format", choices=RESPONSE_FORMATS, default="text")
    transcribe.add_argument("--out", type=Path, default=Path("transcripts"), help="output directory")
    transcribe.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    inputs = collect_inputs(args.inputs)
    if not inputs:
        print("no audio files found", file=sys.stderr)
        return 1
    failures = asyncio.run(
        transcribe_all(inputs, args.url.rstrip("/"), args.api_key, args.out, args.format, args.concurrency)
    )
    print(f"{len(inputs) - len(failures)} of {len(inputs)} files transcribed into {args.out}", file=sys.stderr)
    for failure in failures:
        print(f"FAILED {failure.path}: {failure.reason}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
