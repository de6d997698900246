"""`python -m perf.load`: a bounded load test (or soak) of the whole service with real clips.

N asyncio clients post clips back to back to a gateway it starts (with its Triton), until a time or
request bound; reports files per hour, error rate, latency percentiles, and the RSS of the gateway
and of Triton (with its python stubs): after a warm-up (so that loading and first-touch memory do
not read as growth), sampled during the run, and at the end, with the growth between the two.
Exits 1 when the error rate (anything but 200 and 429) reaches 0.1%.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import numpy as np

from devstack.stack import Stack, local_stack
from perf.datasets import load_dataset
from perf.measure import tree_rss_mb
from perf.provenance import provenance

RESULTS = Path(__file__).resolve().parent / "results"
MAX_ERROR_RATE = 0.001


@dataclass(frozen=True)
class Answer:
    """How one request ended: the HTTP status (or a connection error's name), when it was sent (monotonic
    seconds) and how long it took, the transcript (or the start of the error body) and the model version
    that served it (`X-Model-Version`)."""

    clip: str
    status: int | str
    sent_s: float
    latency_s: float
    text: str = ""
    model_version: str | None = None

    @property
    def done_s(self) -> float:
        return self.sent_s + self.latency_s


async def _client(
    session: aiohttp.ClientSession,
    url: str,
    clips: Iterator[tuple[str, bytes]],
    running: Callable[[], bool],
    budget: list[int],
    record: list[Answer],
) -> None:
    while running() and budget[0] > 0:
        budget[0] -= 1
        name, data = next(clips)
        form = aiohttp.FormData()
        form.add_field("file", data, filename=name)
        sent, started = time.monotonic(), time.perf_counter()
        status: int | str
        body, version = "", None
        try:
            async with session.post(url, data=form) as response:
                body = await response.text()
                status, version = response.status, response.headers.get("X-Model-Version")
        except (aiohttp.ClientError, TimeoutError) as exc:
            status = f"connection error: {type(exc).__name__}"
        latency = time.perf_counter() - started
        text = str(json.loads(body)["text"]) if status == 200 else body[:500]
        record.append(Answer(name, status, sent, latency, text, version))


async def send_clips(
    gateway_url: str,
    api_key: str,
    clips: list[tuple[str, bytes]],
    clients: int,
    running: Callable[[], bool],
    record: list[Answer],
    requests: int = 10**9,
) -> float:
    """Keep `clients` transcription requests in flight to the gateway at `gateway_url`, cycling through `clips`
    in order, while `running()` holds and until `requests` were sent; each Answer goes to `record`. Returns the
    wall time in seconds."""
    url = f"{gateway_url}/v1/audio/transcriptions"
    budget = [requests]
    headers = {"Authorization": f"Bearer {api_key}"}
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(
        headers=headers, connector=connector, timeout=aiohttp.ClientTimeout(300)
    ) as session:
        cycle = itertools.cycle(clips)
        started = time.monotonic()
        await asyncio.gather(*(_client(session, url, cycle, running, budget, record) for _ in range(clients)))
        return time.monotonic() - started


def latency_ms(answers: Sequence[Answer]) -> dict[str, float]:
    """Percentiles of the latency of the answers that are 200s ({} when there is none)."""
    ok = [answer.latency_s for answer in answers if answer.status == 200]
    return {f"p{q}": round(float(np.percentile(ok, q)) * 1000, 1) for q in (50, 95, 99)} if ok else {}


def summarize(record: Sequence[Answer], wall: float) -> dict:
    statuses = Counter(str(answer.status) for answer in record)
    errors = len(record) - statuses.get("200", 0) - statuses.get("429", 0)
    return {
        "requests": len(record),
        "wall_s": round(wall, 1),
        "files_per_hour": round(statuses.get("200", 0) / wall * 3600),
        "statuses": dict(statuses),
        "error_rate": round(errors / max(1, len(record)), 5),
        "latency_ms": latency_ms(record),
    }


async def drive(
    stack: Stack, clips: list[tuple[str, bytes]], clients: int, duration_s: float, requests: int, record: list
) -> dict:
    """Keep `clients` requests in flight until `duration_s` or `requests`; each Answer goes to `record`."""
    stop_at = time.monotonic() + duration_s
    wall = await send_clips(
        stack.gateway.url, stack.api_key, clips, clients, lambda: time.monotonic() < stop_at, record, requests
    )
    return summarize(record, wall)


class RssSampler:
    """RSS of named process trees every `interval_s`, with the number of requests answered so far."""

    def __init__(self, pids: dict[str, int], record: list, interval_s: float) -> None:
        self._pids, self._record, self._interval_s = pids, record, interval_s
        self.samples: list[dict[str, float]] = []
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> dict[str, float]:
        rss = {name: round(tree_rss_mb(pid), 1) for name, pid in self._pids.items()}
        self.samples.append({"t_s": round(time.monotonic() - self._started), "requests": len(self._record), **rss})
        return rss

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.sample()

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


MIN_TREND_REQUESTS = 5000  # fewer requests than this say nothing about a trend per 10,000


def growth_per_10k_requests(samples: list[dict[str, float]], name: str) -> float | None:
    """Least-squares slope of `name`'s RSS against requests answered, in MB per 10,000 requests
    (None for runs too short to show one)."""
    points = [(s["requests"], s[name]) for s in samples]
    if len(points) < 3 or points[-1][0] - points[0][0] < MIN_TREND_REQUESTS:
        return None
    requests, rss = np.array(points, dtype=float).T
    return round(float(np.polyfit(requests, rss, 1)[0]) * 10_000, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf.load", description=__doc__)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--requests", type=int, default=10**9, help="stop after this many requests (a soak)")
    parser.add_argument("--warmup-requests", type=int, default=200, help="sent before the start RSS is read")
    parser.add_argument("--sample-every-s", type=float, default=30.0, help="RSS sampling interval")
    parser.add_argument("--dataset", default="librispeech")
    parser.add_argument("--out", type=Path, default=RESULTS / "load.json")
    args = parser.parse_args(argv)
    dataset = load_dataset(args.dataset)  # nosec B615
    clips = [(clip.path.name, clip.path.read_bytes()) for clip in dataset]
    with local_stack(Path(".run") / "load") as stack:
        pids = {"gateway": stack.gateway.pid or 0, "triton": stack.triton.pid or 0}
        asyncio.run(drive(stack, clips, args.clients, float("inf"), args.warmup_requests, []))
        record: list = []
        with RssSampler(pids, record, args.sample_every_s) as rss:
            rss_start = rss.sample()
            report = asyncio.run(drive(stack, clips, args.clients, args.duration_s, args.requests, record))
            rss_end = rss.sample()
    report |= {
        "clients": args.clients,
        "dataset": args.dataset,
        "warmup_requests": args.warmup_requests,
        "rss_mb_start": rss_start,
        "rss_mb_end": rss_end,
        "rss_growth": {name: round(rss_end[name] / rss_start[name] - 1, 4) for name in pids},
        "rss_mb_per_10k_requests": {name: growth_per_10k_requests(rss.samples, name) for name in pids},
        "rss_mb_samples": rss.samples,
        **provenance("perf.load", argv),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "rss_mb_samples"}, indent=2))
    return 0 if report["error_rate"] < MAX_ERROR_RATE else 1


if __name__ == "__main__":
    sys.exit(main())
