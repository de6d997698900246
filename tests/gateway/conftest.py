"""Fixtures shared by the gateway tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from devstack.gateway_process import GatewayProcess
from tests.gateway.otlp_receiver import OtlpReceiver
from tests.gateway_process import TEST_API_KEY, gateway_env
from triton_server.launcher import TritonServer

# Recordings of up to 10 minutes and 8 MiB (the session's `gateway` takes 30 s and 4 MiB).
LONG_LIMITS = {"DATTAVANI_MAX_UPLOAD_BYTES": str(8 * 1024 * 1024), "DATTAVANI_MAX_AUDIO_SECONDS": "600"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for the tests that talk to the gateway with aiohttp (WebSockets among them)."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    running = OtlpReceiver()
    yield running
    running.close()


@pytest.fixture(scope="session")
def long_gateway(triton: TritonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway in front of the session's Triton that takes long recordings."""
    env = {**gateway_env(triton), **LONG_LIMITS}
    process = GatewayProcess(env, tmp_path_factory.mktemp("long-gateway") / "gateway.log").start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def fallback_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway with only the in-process CPU fallback, taking long recordings."""
    env = {"DATTAVANI_API_KEYS": TEST_API_KEY, "DATTAVANI_BACKENDS": "fallback", **LONG_LIMITS}
    process = GatewayProcess(env, tmp_path_factory.mktemp("fallback-gateway") / "gateway.log").start()
    yield process
    process.stop()


# Live sessions under tight limits: 2 at once, 2 s without an event, 20 s in all, 50 events a second, 5 s buffered.
TIGHT_REALTIME = {
    "DATTAVANI_REALTIME_MAX_SESSIONS": "2",
    "DATTAVANI_REALTIME_IDLE_TIMEOUT_S": "2",
    "DATTAVANI_REALTIME_MAX_SESSION_S": "20",
    "DATTAVANI_REALTIME_MAX_EVENTS_PER_S": "50",
    "DATTAVANI_REALTIME_MAX_BUFFER_S": "5",
    "DATTAVANI_REALTIME_SEND_TIMEOUT_S": "2",
}


@pytest.fixture(scope="session")
def tight_gateway(triton: TritonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway in front of the session's Triton whose live sessions have tight limits."""
    process = GatewayProcess({**gateway_env(triton), **TIGHT_REALTIME}, tmp_path_factory.mktemp("tight") / "gw.log")
    yield process.start()
    process.stop()
