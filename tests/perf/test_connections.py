"""1000 clients connect to the real gateway at once: each gets its transcript or a 429 with
Retry-After; no connection errors, no 5xx, no wrong text."""

from __future__ import annotations

import asyncio

from devstack.gateway_process import GatewayProcess
from perf.connections import open_connections, summarize
from perf.datasets import load_dataset
from perf.measure import tree_rss_mb
from tests.gateway_process import TEST_API_KEY
from triton_server.launcher import TritonServer


def test_a_thousand_simultaneous_connections_get_answers_or_429s(gateway: GatewayProcess, triton: TritonServer) -> None:
    url = f"{gateway.url}/v1/audio/transcriptions"
    pids = {"gateway": gateway.pid or 0, "triton": triton.pid or 0}
    before = {name: tree_rss_mb(pid) for name, pid in pids.items()}
    outcomes = asyncio.run(open_connections(url, TEST_API_KEY, load_dataset("librispeech"), 1000, retry=False))
    after = {name: tree_rss_mb(pid) for name, pid in pids.items()}
    report = summarize(outcomes)
    print(report, {name: f"{before[name]:.0f} -> {after[name]:.0f} MB" for name in pids})
    assert report["failed"] == 0, report["failures"]
    assert (report["connection_errors"], report["server_errors"]) == (0, 0)
    statuses = report["statuses"]
    assert isinstance(statuses, dict) and set(statuses) <= {"200", "429"}
    assert statuses.get("200", 0) >= 8, "the gateway's running slots were all used"
