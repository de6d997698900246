"""Breaker, retries, chain, admission and health caching, driven by an injected fault source."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import numpy as np
import pytest
from aiobreaker import CircuitBreakerState

from gateway.admission import Admission
from gateway.backends import ComponentHealth, Deadline
from gateway.backends.chain import BackendChain, Served
from gateway.backends.resilience import ResilientBackend, RetryPolicy, new_breaker
from gateway.errors import (
    BackendTimeoutError,
    BackendUnavailableError,
    CircuitOpenError,
    InvalidParameterError,
    ShuttingDownError,
    TooManyRequestsError,
)
from gateway.health import CachedHealth
from whisper_runtime.decoding import DecodingResult
from whisper_runtime.prompts import Prompt

PCM = np.zeros(1600, dtype=np.float32)


class FaultSource:
    """A backend whose answers follow a script: a text, or an exception to raise."""

    def __init__(self, name: str, script: Iterator[str | Exception]) -> None:
        self.name = name
        self.script = script
        self.calls: list[float] = []

    async def decode_window(
        self, pcm: np.ndarray, prompt: Prompt | None, request_id: str, deadline: Deadline
    ) -> DecodingResult:
        self.calls.append(time.monotonic())
        outcome = next(self.script)
        if isinstance(outcome, Exception):
            raise outcome
        return DecodingResult(tokens=(), text=outcome, avg_logprob=-0.1, no_speech_prob=0.0, language="en")

    async def check(self) -> ComponentHealth:
        return ComponentHealth("ok", "scripted")

    async def close(self) -> None:
        pass


def forever(outcome: str | Exception) -> Iterator[str | Exception]:
    while True:
        yield outcome


def resilient(source: FaultSource, fail_max: int = 3, recovery_s: float = 0.3, tries: int = 1) -> ResilientBackend:
    return ResilientBackend(source, new_breaker(fail_max, recovery_s, "test"), RetryPolicy(tries, 0.01, 0.05))


async def call(backend: ResilientBackend | BackendChain, deadline_s: float = 5.0) -> str:
    answer = await backend.decode_window(PCM, None, "req", Deadline.after(deadline_s))
    return answer.result.text if isinstance(answer, Served) else answer.text


async def test_breaker_opens_after_consecutive_failures_and_then_stops_calling() -> None:
    source = FaultSource("triton", forever(BackendUnavailableError("down")))
    backend = resilient(source, fail_max=3)
    for _ in range(2):
        with pytest.raises(BackendUnavailableError):
            await call(backend)
    with pytest.raises(CircuitOpenError):  # the third failure opens it
        await call(backend)
    assert backend.state == CircuitBreakerState.OPEN
    with pytest.raises(CircuitOpenError):
        await call(backend)
    assert len(source.calls) == 3, "an open breaker must not call the backend"


async def test_half_open_probe_closes_on_success() -> None:
    source = FaultSource("triton", iter([BackendUnavailableError("down")] * 2 + ["back"] * 5))
    backend = resilient(source, fail_max=2, recovery_s=0.2)
    for _ in range(2):
        with pytest.raises((BackendUnavailableError, CircuitOpenError)):
            await call(backend)
    assert backend.state == CircuitBreakerState.OPEN
    await asyncio.sleep(0.25)
    assert await call(backend) == "back"  # the probe goes through and closes the breaker
    assert backend.state == CircuitBreakerState.CLOSED
    assert await call(backend) == "back"


async def test_half_open_probe_reopens_on_failure() -> None:
    source = FaultSource("triton", forever(BackendTimeoutError("slow")))
    backend = resilient(source, fail_max=1, recovery_s=0.2)
    with pytest.raises(CircuitOpenError):
        await call(backend)
    await asyncio.sleep(0.25)
    with pytest.raises(CircuitOpenError):
        await call(backend)
    assert backend.state == CircuitBreakerState.OPEN
    assert len(source.calls) == 2


async def test_client_errors_do_not_count_as_failures() -> None:
    source = FaultSource("triton", forever(InvalidParameterError("bad input")))
    backend = resilient(source, fail_max=2)
    for _ in range(5):
        with pytest.raises(InvalidParameterError):
            await call(backend)
    assert backend.state == CircuitBreakerState.CLOSED


async def test_unavailable_is_retried_with_backoff_until_success() -> None:
    source = FaultSource("triton", iter([BackendUnavailableError("refused")] * 2 + ["ok"]))
    backend = resilient(source, tries=3)
    assert await call(backend) == "ok"
    assert len(source.calls) == 3
    assert backend.state == CircuitBreakerState.CLOSED  # one call through the breaker, and it succeeded


async def test_timeouts_are_not_retried() -> None:
    source = FaultSource("triton", forever(BackendTimeoutError("slow")))
    backend = resilient(source, fail_max=10, tries=5)
    with pytest.raises(BackendTimeoutError):
        await call(backend)
    assert len(source.calls) == 1


async def test_retries_and_their_sleeps_stop_at_the_deadline() -> None:
    source = FaultSource("triton", forever(BackendUnavailableError("refused")))
    backend = ResilientBackend(
        source, new_breaker(100, 10, "test"), RetryPolicy(max_tries=50, base_delay_s=0.2, max_delay_s=5)
    )
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError):
        await call(backend, deadline_s=0.5)
    elapsed = time.monotonic() - started
    assert elapsed < 0.5 + 0.1  # the last sleep is cut to what is left of the deadline
    assert 1 < len(source.calls) < 50
    gaps = np.diff(source.calls)
    assert all(gap <= 5.0 for gap in gaps)


async def test_chain_falls_back_and_says_who_served() -> None:
    failures: list[tuple[str, str, str]] = []
    chain = BackendChain(
        "whisper-base",
        [FaultSource("triton", forever(BackendUnavailableError("down"))), FaultSource("fallback", forever("hello"))],
        on_failure=lambda backend, model, error: failures.append((backend, model, error.code)),
    )
    served = await chain.decode_window(PCM, None, "req", Deadline.after(5.0))
    assert (served.result.text, served.backend) == ("hello", "fallback")
    assert failures == [("triton", "whisper-base", "backend_unavailable")]


async def test_chain_raises_the_last_failure_when_all_fail() -> None:
    chain = BackendChain(
        "m",
        [
            FaultSource("triton", forever(BackendUnavailableError("down"))),
            FaultSource("fallback", forever(BackendTimeoutError("slow"))),
        ],
    )
    with pytest.raises(BackendTimeoutError):
        await call(chain)


async def test_chain_does_not_fall_back_on_client_errors() -> None:
    fallback = FaultSource("fallback", forever("hello"))
    chain = BackendChain("m", [FaultSource("triton", forever(InvalidParameterError("bad"))), fallback])
    with pytest.raises(InvalidParameterError):
        await call(chain)
    assert fallback.calls == []


async def test_admission_queues_up_to_its_bound_and_refuses_beyond() -> None:
    admission = Admission(max_concurrent=1, max_queued=1, retry_after_s=3)
    release = asyncio.Event()

    async def hold() -> None:
        async with admission.admit():
            await release.wait()

    tasks = [asyncio.create_task(hold()) for _ in range(2)]
    await asyncio.sleep(0.01)
    assert (admission.active, admission.queued) == (1, 1)
    with pytest.raises(TooManyRequestsError) as refused:
        async with admission.admit():
            pass
    assert refused.value.retry_after_s == 3
    release.set()
    await asyncio.gather(*tasks)
    assert (admission.active, admission.queued) == (0, 0)


async def test_draining_refuses_new_work_and_waits_for_the_rest() -> None:
    admission = Admission(max_concurrent=2, max_queued=0, retry_after_s=1)
    finished = []

    async def work() -> None:
        async with admission.admit():
            await asyncio.sleep(0.1)
            finished.append(True)

    task = asyncio.create_task(work())
    await asyncio.sleep(0.01)
    drain = asyncio.create_task(admission.drain(timeout_s=5))
    await asyncio.sleep(0.01)
    with pytest.raises(ShuttingDownError):
        async with admission.admit():
            pass
    assert await drain is True
    assert finished == [True]
    await task


async def test_drain_gives_up_at_its_timeout() -> None:
    admission = Admission(max_concurrent=1, max_queued=0, retry_after_s=1)
    blocker = asyncio.Event()

    async def stuck() -> None:
        async with admission.admit():
            await blocker.wait()

    task = asyncio.create_task(stuck())
    await asyncio.sleep(0.01)
    assert await admission.drain(timeout_s=0.05) is False
    blocker.set()
    await task


async def test_health_checks_are_cached_for_their_ttl() -> None:
    runs = []

    async def check() -> dict[str, ComponentHealth]:
        runs.append(1)
        return {"triton": ComponentHealth("ok", "fine")}

    cached = CachedHealth(check, ttl_s=0.2)
    await asyncio.gather(*(cached.get() for _ in range(5)))
    await cached.get()
    assert len(runs) == 1
    await asyncio.sleep(0.25)
    await cached.get()
    assert len(runs) == 2
