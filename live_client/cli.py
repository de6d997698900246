"""`python -m live_client FILE`: play an audio file to the gateway's live transcription as a microphone
would (real time by default), printing the partial text of each utterance as it grows and its final
text when it is complete.

The key comes from --key or DATTAVANI_API_KEY. Exit code 1 when the session reported an error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp

from live_client.stream import DEFAULT_TURN_DETECTION, pcm16, stream
from whisper_runtime.audio import decode_audio


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m live_client", description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="an audio file (any format FFmpeg reads)")
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the gateway (default %(default)s)")
    parser.add_argument("--key", default=os.environ.get("DATTAVANI_API_KEY"), help="API key (DATTAVANI_API_KEY)")
    parser.add_argument("--model", help="a served model (default: the gateway's default)")
    parser.add_argument("--language", help="the spoken language (default: detected)")
    parser.add_argument("--speed", type=float, default=1.0, help="times real time; 0: as fast as possible")
    parser.add_argument("--chunk-ms", type=int, default=100, help="milliseconds of audio per append")
    parser.add_argument("--silence-ms", type=int, default=500, help="silence that ends an utterance (server_vad)")
    parser.add_argument("--manual", action="store_true", help="no turn detection: the whole file is one commit")
    return parser


class Printer:
    """Partial text on one line, rewritten as it grows, then the final text on a line of its own."""

    def __init__(self) -> None:
        self._partial: dict[str, str] = {}

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "conversation.item.input_audio_transcription.delta":
            text = self._partial.get(event["item_id"], "") + event["delta"]
            self._partial[event["item_id"]] = text
            print(f"\r\033[K… {text}", end="", flush=True)
        elif kind == "conversation.item.input_audio_transcription.completed":
            self._partial.pop(event["item_id"], None)
            print(f"\r\033[K{event['transcript'].strip()}", flush=True)
        elif kind == "conversation.item.input_audio_transcription.failed":
            print(f"\r\033[K[failed: {event['error']['message']}]", flush=True)
        elif kind == "error":
            print(f"\r\033[K[error {event['error']['code']}: {event['error']['message']}]", file=sys.stderr)


async def _run(args: argparse.Namespace) -> int:
    samples = pcm16(decode_audio(args.file))
    detection = None if args.manual else {**DEFAULT_TURN_DETECTION, "silence_duration_ms": args.silence_ms}
    async with aiohttp.ClientSession() as http:
        result = await stream(
            http, args.url, args.key, samples, speed=args.speed, chunk_ms=args.chunk_ms,
            turn_detection=detection, model=args.model, language=args.language, on_event=Printer(),
            timeout_s=samples.size / 16000 / (args.speed or 1.0) + 120,
        )  # fmt: skip
    return 1 if result.errors else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.key:
        print("live_client: no API key: pass --key or set DATTAVANI_API_KEY", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(args))
    except aiohttp.WSServerHandshakeError as exc:
        print(f"live_client: the gateway refused the connection: {exc.status} {exc.message}", file=sys.stderr)
        return 1
    except (aiohttp.ClientError, OSError) as exc:
        print(f"live_client: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
