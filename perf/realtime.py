"""`make realtime-bench`: live transcription latency on a real Triton and gateway (tiny.en int8).

The shared LibriSpeech clips and JFK are streamed to /v1/realtime at real time (100 ms appends, server_vad
with OpenAI's defaults), first one session alone, `--rounds` times in a row (ten utterances a round: p95 over
one round would be its slowest utterance), then `--sessions N` at once, each session playing the clips one after
another from its own starting clip. For every utterance:
- first delta: from when its speech began (audio_start_ms + prefix padding, as the client sent it) to its
  first partial text;
- completed: from when its speech ended (audio_end_ms - silence_duration_ms, as sent) to its final text
  (this includes the silence the server waits for before it calls the utterance over);
and p50/p95 over the utterances. One more session past `--max-sessions` must be refused (1013).
Writes perf/results/realtime.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from devstack.stack import local_stack
from live_client.stream import StreamResult, pcm16, stream, websocket_url
from perf.datasets import JFK_CLIP, load_dataset
from perf.provenance import describe_host, host, provenance
from whisper_runtime.audio import decode_audio

RESULTS = Path(__file__).resolve().parent / "results"
PREFIX_PADDING_MS, SILENCE_MS = 300, 500  # OpenAI's server_vad defaults, which the sessions keep
GAP_S = 1.0  # silence between two clips of a session


def clips() -> list[np.ndarray]:
    paths = [JFK_CLIP, *(clip.path for clip in load_dataset("librispeech"))]  # nosec B615  # a local manifest
    return [pcm16(decode_audio(path)) for path in paths]


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def latencies(results: list[StreamResult]) -> dict[str, Any]:
    first_delta, completed, missing = [], [], 0
    for result in results:
        for utterance in result.utterances.values():
            start, end, done = utterance.audio_start_ms, utterance.audio_end_ms, utterance.completed_at
            if start is None or end is None or done is None:
                missing += 1
                continue
            completed.append(done - result.sent_at(end - SILENCE_MS))
            if utterance.deltas:
                first_delta.append(utterance.deltas[0][0] - result.sent_at(start + PREFIX_PADDING_MS))
    return {
        "utterances": len(completed),
        "without_text": missing,
        "with_partial_text": len(first_delta),
        "first_delta_s": {"p50": percentile(first_delta, 50), "p95": percentile(first_delta, 95)},
        "completed_s": {"p50": percentile(completed, 50), "p95": percentile(completed, 95)},
        "errors": sum(len(result.errors) for result in results),
    }


async def sessions(url: str, key: str, audio: list[np.ndarray], count: int) -> list[StreamResult]:
    gap = np.zeros(int(16000 * GAP_S), dtype="<i2")

    def playlist(first: int) -> np.ndarray:
        order = audio[first % len(audio) :] + audio[: first % len(audio)]
        return np.concatenate([piece for clip in order for piece in (clip, gap)])

    async with aiohttp.ClientSession() as http:
        return list(await asyncio.gather(*(stream(http, url, key, playlist(i), timeout_s=600) for i in range(count))))


async def refused_past_limit(url: str, key: str, limit: int) -> int | None:
    """Open `limit` sessions, then one more: its close code."""
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {key}"}
        held = [await http.ws_connect(websocket_url(url), headers=headers) for _ in range(limit)]
        try:
            async with http.ws_connect(websocket_url(url), headers=headers) as extra:
                async for _ in extra:
                    pass
                return extra.close_code
        finally:
            for ws in held:
                await ws.close()


def report(result: dict[str, Any]) -> str:
    rows = [
        "| sessions | utterances | with partial text | first delta p50 / p95 (s) | completed p50 / p95 (s) | errors |",
        "|---|---|---|---|---|---|",
    ]
    for name, run in result["runs"].items():
        rows.append(
            f"| {name} | {run['utterances']} (+{run['without_text']} without text) | {run['with_partial_text']} | "
            f"{run['first_delta_s']['p50']} / {run['first_delta_s']['p95']} | "
            f"{run['completed_s']['p50']} / {run['completed_s']['p95']} | {run['errors']} |"
        )
    return (
        "# Live transcription latency (make realtime-bench)\n\n"
        f"Host: {describe_host(result['host'])}. Command: `{result['command']}`, {result['created']}.\n"
        "Triton + gateway (tiny.en int8) on this host; clients too. server_vad with OpenAI's defaults "
        f"(prefix {PREFIX_PADDING_MS} ms, silence {SILENCE_MS} ms); audio sent at real time in 100 ms appends. "
        f"The single session played the clips {result['rounds']} times in a row.\n\n"
        "First delta: from the start of speech to the first partial text. Completed: from the end of speech to "
        f"the final text, the {SILENCE_MS} ms of silence the server waits for included.\n\n"
        + "\n".join(rows)
        + f"\n\nSession {result['max_sessions'] + 1} past the limit of {result['max_sessions']}: "
        f"close code {result['refused_close_code']}.\n"
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    audio = clips()
    env = {"DATTAVANI_REALTIME_MAX_SESSIONS": str(args.max_sessions)}
    with tempfile.TemporaryDirectory() as workdir, local_stack(Path(workdir), gateway_env=env) as stack:
        url, key = stack.gateway.url, stack.api_key
        runs = {}
        for count, rounds in ((1, args.rounds), (args.sessions, 1)):
            results = [result for _ in range(rounds) for result in await sessions(url, key, audio, count)]
            runs[str(count)] = latencies(results)
            print(f"[realtime] {count} sessions: {json.dumps(runs[str(count)])}", flush=True)
        refused = await refused_past_limit(url, key, args.max_sessions)
    return {"host": host(), **provenance("perf.realtime", args.argv), "runs": runs,
            "rounds": args.rounds, "max_sessions": args.max_sessions, "refused_close_code": refused}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf.realtime", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--max-sessions", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="single-session rounds, one after another")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.argv = argv
    result = asyncio.run(run(args))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "realtime.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "realtime.md").write_text(report(result))
    print(report(result))
    ok = all(run["without_text"] == 0 and run["errors"] == 0 for run in result["runs"].values())
    return 0 if ok and result["refused_close_code"] == 1013 else 1


if __name__ == "__main__":
    sys.exit(main())
