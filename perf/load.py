"""`python -m perf.load`: a bounded load test (or soak) of the whole service with real clips.

N asyncio clients post clips back to back to a gateway it starts (with its Triton), until a time or
request bound; reports files per hour, error rate, latency percentiles, and the RSS of the gateway
and of Triton (with its python stubs) after a warm-up and at the end. Exits 1 when the error rate
(anything but 200 and 429) reaches 0.1%.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import numpy as np

from gateway.launcher import Stack, local_stack
from perf.datasets import load_dataset
from perf.measure import tree_rss_mb

RESULTS = Path(__file__).resolve().parent / "results"


async def _client(
    session: aiohttp.ClientSession, url: str, clips: itertools.cycle, stop_at: float, budget: list[int], record: list
) -> None:
    while time.monotonic() < stop_at and budget[0] > 0:
        budget[0] -= 1
        name, data = next(clips)
        form = aiohttp.FormData()
        form.add_field("file", data, filename=name)
        started = time.perf_counter()
        status: int | str
        try:
            async with session.post(url, data=form) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            status = f"connection error: {type(exc).__name__}"
        record.append((status, time.perf_counter() - started))


async def drive(stack: Stack, clips: list[tuple[str, bytes]], clients: int, duration_s: float, requests: int) -> dict:
    url = f"{stack.gateway.url}/v1/audio/transcriptions"
    record: list[tuple[int | str, float]] = []
    budget = [requests]
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(
        headers=headers, connector=connector, timeout=aiohttp.ClientTimeout(300)
    ) as session:
        cycle = itertools.cycle(clips)
        started = time.monotonic()
        await asyncio.gather(
            *(_client(session, url, cycle, started + duration_s, budget, record) for _ in range(clients))
        )
        wall = time.monotonic() - started
    statuses = Counter(str(status) for status, _ in record)
    ok = [latency for status, latency in record if status == 200]
    errors = len(record) - statuses.get("200", 0) - statuses.get("429", 0)
    return {
        "requests": len(record),
        "wall_s": round(wall, 1),
        "files_per_hour": round(statuses.get("200", 0) / wall * 3600),
        "statuses": dict(statuses),
        "error_rate": round(errors / max(1, len(record)), 5),
        "latency_ms": {f"p{q}": round(float(np.percentile(ok, q)) * 1000, 1) for q in (50, 95, 99)} if ok else {},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf.load", description=__doc__)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--requests", type=int, default=10**9, help="stop after this many requests (a soak)")
    parser.add_argument("--dataset", default="librispeech")
    parser.add_argument("--out", type=Path, default=RESULTS / "load.json")
    args = parser.parse_args(argv)
    dataset = load_dataset(args.dataset)  # nosec B615
    clips = [(clip.path.name, clip.path.read_bytes()) for clip in dataset]
    with local_stack(Path(".run") / "load") as stack:
        pids = {"gateway": stack.gateway.pid or 0, "triton": stack.triton.pid or 0}
        # Warm up first, so that loading and first-touch memory do not read as growth.
        asyncio.run(drive(stack, clips, args.clients, args.duration_s, requests=4 * args.clients))
        rss_start = {name: round(tree_rss_mb(pid), 1) for name, pid in pids.items()}
        report = asyncio.run(drive(stack, clips, args.clients, args.duration_s, args.requests))
        rss_end = {name: round(tree_rss_mb(pid), 1) for name, pid in pids.items()}
    report |= {
        "clients": args.clients,
        "dataset": args.dataset,
        "rss_mb_start": rss_start,
        "rss_mb_end": rss_end,
        "rss_growth": {name: round(rss_end[name] / rss_start[name] - 1, 4) for name in pids},
        "command": "python -m perf.load " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0 if report["error_rate"] < 0.001 else 1


if __name__ == "__main__":
    sys.exit(main())
