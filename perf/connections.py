"""`python -m perf.connections`: many clients connect at once, each posting a real clip.

Every connection is its own TCP connection, all opened together against a gateway (and Triton)
it starts. Each request must end with 200 and the right text (the clip's transcript when sent
alone, within MAX_WORD_ERROR: int8 words can shift with batch composition), or 429 with a
`Retry-After`;
a connection error, a 5xx or a wrong text fails the run. With `--retry`, a client refused with
429 sends again after its `Retry-After` until it gets its transcript, so every clip is
transcribed. Reports the outcomes, the wall time and the RSS of the gateway and Triton before
and after; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from devstack.stack import local_stack
from perf.accuracy import word_error_rate
from perf.datasets import Clip, load_dataset
from perf.measure import tree_rss_mb
from perf.provenance import provenance

RESULTS = Path(__file__).resolve().parent / "results"
MAX_WAIT_S = 30.0
MAX_WORD_ERROR = 10.0  # percent, against the clip's transcript when sent alone


@dataclass(frozen=True)
class Outcome:
    """How one client's request ended: `status` is the HTTP status or a connection error's name."""

    status: int | str
    attempts: int
    problem: str = ""  # why a 200 or 429 still counts as a failure


async def _one_client(session: aiohttp.ClientSession, url: str, audio: bytes, expected: str, retry: bool) -> Outcome:
    attempts = 0
    while True:
        attempts += 1
        form = aiohttp.FormData()
        form.add_field("file", audio, filename="clip.flac")
        try:
            async with session.post(url, data=form) as response:
                body = await response.text()
                retry_after = response.headers.get("Retry-After")
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Outcome(type(exc).__name__, attempts)
        if status == 200:
            text = json.loads(body)["text"]
            wrong = word_error_rate([expected], [text]) > MAX_WORD_ERROR
            return Outcome(200, attempts, f"text {text!r} instead of {expected!r}" if wrong else "")
        if status != 429:
            return Outcome(status, attempts, body[:200])
        if retry_after is None or not retry_after.isdigit():
            return Outcome(429, attempts, "429 without a Retry-After")
        if not retry:
            return Outcome(429, attempts)
        await asyncio.sleep(min(float(retry_after), MAX_WAIT_S))


async def open_connections(url: str, api_key: str, clips: list[Clip], connections: int, retry: bool) -> list[Outcome]:
    """`connections` clients at once, one TCP connection each, cycling through `clips`."""
    audio = [clip.path.read_bytes() for clip in clips]
    connector = aiohttp.TCPConnector(limit=0, force_close=True)  # no pooling: a connection per request
    headers = {"Authorization": f"Bearer {api_key}"}
    async with aiohttp.ClientSession(headers=headers, connector=connector, timeout=aiohttp.ClientTimeout(600)) as s:
        expected = [await _transcript_alone(s, url, data) for data in audio]
        picks = [i % len(clips) for i in range(connections)]
        return list(await asyncio.gather(*(_one_client(s, url, audio[i], expected[i], retry) for i in picks)))


async def _transcript_alone(session: aiohttp.ClientSession, url: str, audio: bytes) -> str:
    form = aiohttp.FormData()
    form.add_field("file", audio, filename="clip.flac")
    async with session.post(url, data=form) as response:
        response.raise_for_status()
        return str((await response.json())["text"])


def summarize(outcomes: list[Outcome]) -> dict[str, object]:
    failures = [o for o in outcomes if o.problem or o.status not in (200, 429)]
    return {
        "connections": len(outcomes),
        "statuses": dict(Counter(str(o.status) for o in outcomes)),
        "attempts": sum(o.attempts for o in outcomes),
        "connection_errors": sum(isinstance(o.status, str) for o in outcomes),
        "server_errors": sum(isinstance(o.status, int) and o.status >= 500 for o in outcomes),
        "failures": [f"{o.status}: {o.problem}" for o in failures[:20]],
        "failed": len(failures),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf.connections", description=__doc__)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--retry", action="store_true", help="send again after a 429's Retry-After until served")
    parser.add_argument("--dataset", default="librispeech")
    parser.add_argument("--out", type=Path, default=RESULTS / "connections.json")
    args = parser.parse_args(argv)
    clips = load_dataset(args.dataset)  # nosec B615  # a local manifest, not a model hub
    with local_stack(Path(".run") / "connections") as stack:
        pids = {"gateway": stack.gateway.pid or 0, "triton": stack.triton.pid or 0}
        rss_before = {name: round(tree_rss_mb(pid), 1) for name, pid in pids.items()}
        started = time.monotonic()
        url = f"{stack.gateway.url}/v1/audio/transcriptions"
        outcomes = asyncio.run(open_connections(url, stack.api_key, clips, args.connections, args.retry))
        wall = time.monotonic() - started
        rss_after = {name: round(tree_rss_mb(pid), 1) for name, pid in pids.items()}
    report = summarize(outcomes) | {
        "retry": args.retry,
        "wall_s": round(wall, 1),
        "rss_mb_before": rss_before,
        "rss_mb_after": rss_after,
        **provenance("perf.connections", argv),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
