"""The load driver counts what the real gateway answers; perf_analyzer's inputs and libraries are prepared."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from devstack.gateway_process import GatewayProcess
from devstack.stack import Stack
from perf.load import RssSampler, drive, growth_per_10k_requests
from perf.perf_analyzer import LIBRARIES, input_data, library_dir
from tests.audio_files import JFK
from tests.gateway_process import TEST_API_KEY
from triton_server.launcher import TritonServer


def test_the_load_driver_stops_at_its_request_bound_and_counts_statuses(
    gateway: GatewayProcess, triton: TritonServer
) -> None:
    stack = Stack(triton=triton, gateway=gateway, api_key=TEST_API_KEY)
    clips = [("jfk.flac", JFK.read_bytes()), ("broken.wav", b"not audio")]
    record: list = []
    with RssSampler({"gateway": gateway.pid or 0, "triton": triton.pid or 0}, record, interval_s=0.05) as rss:
        report = asyncio.run(drive(stack, clips, clients=2, duration_s=60, requests=4, record=record))
    assert report["requests"] == len(record) == 4
    assert report["statuses"] == {"200": 2, "400": 2}
    assert report["error_rate"] == 0.5  # a 400 is an error for a load test of valid clips
    assert report["latency_ms"]["p50"] > 0
    assert rss.samples and all(sample["gateway"] > 50 and sample["triton"] > 50 for sample in rss.samples)


def test_rss_growth_is_the_slope_against_requests_answered() -> None:
    flat = [{"requests": n, "triton": 800.0} for n in (0, 5000, 10000)]
    leaking = [{"requests": n, "triton": 800.0 + n / 100} for n in (0, 5000, 10000, 20000)]
    assert growth_per_10k_requests(flat, "triton") == 0.0
    assert growth_per_10k_requests(leaking, "triton") == 100.0
    assert growth_per_10k_requests(flat[:2], "triton") is None
    assert growth_per_10k_requests([{"requests": n, "triton": 800.0} for n in (0, 100, 400)], "triton") is None


def test_perf_analyzer_gets_real_clips_and_its_libraries(tmp_path: Path) -> None:
    data = json.loads(input_data("librispeech", 2, tmp_path / "input.json").read_text())
    assert len(data["data"]) == 2
    entry = data["data"][0]["WAV"]
    assert entry["shape"] == [len(entry["content"])] and entry["shape"][0] > 16000
    libraries = library_dir(tmp_path)
    assert {path.name for path in libraries.iterdir()} == set(LIBRARIES)
    assert all(path.resolve().is_file() for path in libraries.iterdir())
    version = subprocess.run(
        [str(Path(sys.executable).parent / "perf_analyzer"), "--version"],
        capture_output=True,
        text=True,
        env={"LD_LIBRARY_PATH": str(libraries)},
    )
    assert version.returncode == 0, version.stderr
