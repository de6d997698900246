"""The endpoint pool (balancing, breakers, retries, re-admission), chain, admission and health caching,
driven by injected fault sources."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest
from aiobreaker import CircuitBreakerState

from gateway.admission import Admission
from gateway.backends import ComponentHealth, Deadline, Served
from gateway.backends.chain import BackendChain
from gateway.backends.pool import EndpointPool, Member
from gateway.backends.resilience import RetryPolicy, new_breaker
from gateway.errors import (
    BackendTimeoutError,
    BackendUnavailableError,
    CircuitOpenError,
    InvalidParameterError,
    ShuttingDownError,
    TooManyRequestsError,
    VersionMovedError,
)
from gateway.health import CachedHealth
from whisper_runtime.decoding import DecodingResult
from whisper_runtime.window_decoder import WindowRequest

PCM = np.zeros(1600, dtype=np.float32)


class FaultSource:
    """A backend whose answers follow a script: a text, or an exception to raise; its checks answer `health`."""

    def __init__(self, name: str, script: Iterator[str | Exception]) -> None:
        self.name = name
        self.script = script
        self.calls: list[float] = []
        self.version = "1"
        self.refused_versions: dict[str, str] = {}
        self.health = ComponentHealth("ok", "scripted")
        self.watched = 0
        self.canaries = 0

    async def decode_window(
        self, pcm: np.ndarray, window: WindowRequest | None, request_id: str, deadline: Deadline
    ) -> Served:
        self.calls.append(time.monotonic())
        outcome = next(self.script)
        if isinstance(outcome, Exception):
            raise outcome
        result = DecodingResult(tokens=(), text=outcome, avg_logprob=-0.1, no_speech_prob=0.0, language="en")
        return Served(result, self.name, self.version)

    async def watch(self, prove: bool) -> ComponentHealth:
        self.watched += 1
        self.canaries += prove
        return self.health

    async def check(self) -> ComponentHealth:
        return self.health

    async def close(self) -> None:
        pass


@dataclass
class Load:
    address: str
    in_flight: int = 0
    precisions: dict[tuple[str, str], str] = field(default_factory=dict)


def forever(outcome: str | Exception) -> Iterator[str | Exception]:
    while True:
        yield outcome


async def pool_of(
    *sources: FaultSource,
    fail_max: int = 3,
    recovery_s: float = 0.3,
    tries: int = 3,
    base_delay_s: float = 0.01,
    proven_for_s: float = 1.0,
) -> EndpointPool:
    """A pool with one member per source (its name the endpoint address), checked once, so all are admitted."""
    pool = EndpointPool("m", RetryPolicy(tries, base_delay_s, 0.05), proven_for_s)
    by_name = {source.name: source for source in sources}
    pool.sync(
        {name: Load(name) for name in by_name},
        lambda load: Member(load, by_name[load.address], new_breaker(fail_max, recovery_s, load.address)),
    )
    await pool.watch()
    return pool


async def call(backend: EndpointPool | BackendChain, deadline_s: float = 5.0) -> Served:
    return await backend.decode_window(PCM, None, "req", Deadline.after(deadline_s))


def breaker(pool: EndpointPool, address: str) -> CircuitBreakerState:
    return pool.members[address].breaker.current_state


async def test_breaker_opens_after_consecutive_failures_and_ejects_the_endpoint() -> None:
    source = FaultSource("a", forever(BackendTimeoutError("slow")))
    pool = await pool_of(source, fail_max=3)
    for _ in range(2):
        with pytest.raises(BackendTimeoutError):
            await call(pool)
    with pytest.raises(CircuitOpenError):  # the third failure opens it
        await call(pool)
    assert breaker(pool, "a") == CircuitBreakerState.OPEN and not pool.members["a"].admitted
    with pytest.raises(CircuitOpenError, match="every one is ejected"):
        await call(pool)
    assert len(source.calls) == 3, "an ejected endpoint must not be called"
    assert not (await pool.check()).ok


async def test_an_answering_canary_readmits_the_endpoint_and_closes_its_breaker() -> None:
    source = FaultSource("a", iter([BackendTimeoutError("slow")] + ["back"] * 5))
    pool = await pool_of(source, fail_max=1, recovery_s=60.0)
    with pytest.raises(CircuitOpenError):
        await call(pool)
    await pool.watch()  # long before the breaker's own recovery time
    assert breaker(pool, "a") == CircuitBreakerState.CLOSED
    assert (await call(pool)).result.text == "back"


class Clock:
    """The pool's clock (its `time` module, for `monotonic`), moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("gateway.backends.pool.time", clock)
    return clock


async def test_a_canary_proves_an_idle_endpoint_for_a_while_and_an_ejected_one_is_canaried_every_check(
    clock: Clock,
) -> None:
    source = FaultSource("a", forever("hello"))
    pool = await pool_of(source, proven_for_s=1.0)  # its first check ran a canary
    assert source.canaries == 1
    clock.now += 0.9
    await pool.watch()
    assert source.canaries == 1, "a canary that answered proves the endpoint for proven_for_s"
    clock.now += 0.2
    source.health = ComponentHealth("down", "canary inference failed")
    await pool.watch()
    await pool.watch()
    assert source.canaries == 3, "an endpoint that is not admitted is canaried at every check"
    source.health = ComponentHealth("ok", "back")
    await pool.watch()
    await pool.watch()
    assert source.canaries == 4 and pool.members["a"].admitted


async def test_a_held_check_leaves_a_proven_endpoint_for_twice_as_long_but_never_one_not_admitted(
    clock: Clock,
) -> None:
    source = FaultSource("a", forever("hello"))
    pool = await pool_of(source, proven_for_s=1.0)
    clock.now += 1.5
    await pool.watch(hold=True)  # live utterances want the CPU
    assert source.canaries == 1
    await pool.watch()
    assert source.canaries == 2
    clock.now += 2.5
    await pool.watch(hold=True)  # past twice proven_for_s: it runs anyway
    assert source.canaries == 3
    source.health = ComponentHealth("down", "canary inference failed")
    clock.now += 1.5
    await pool.watch()
    await pool.watch(hold=True)
    assert source.canaries == 5, "an endpoint that is not admitted is canaried at every check, held or not"


async def test_a_failing_check_ejects_and_no_call_is_made() -> None:
    source = FaultSource("a", forever("hello"))
    pool = await pool_of(source)
    source.health = ComponentHealth("down", "canary inference failed")
    await pool.watch()
    with pytest.raises(CircuitOpenError):
        await call(pool)
    assert source.calls == []
    assert (await pool.check()).parts == {
        "a": {
            "status": "down",
            "message": "canary inference failed",
            "version": "1",
            "precision": None,
            "in_flight": 0,
            "breaker": "closed",
        }
    }


async def test_client_errors_do_not_count_as_failures() -> None:
    source = FaultSource("a", forever(InvalidParameterError("bad input")))
    pool = await pool_of(source, fail_max=2)
    for _ in range(5):
        with pytest.raises(InvalidParameterError):
            await call(pool)
    assert breaker(pool, "a") == CircuitBreakerState.CLOSED and pool.members["a"].admitted


async def test_a_retry_goes_to_another_endpoint_first() -> None:
    dead, alive = FaultSource("a", forever(BackendUnavailableError("refused"))), FaultSource("b", forever("ok"))
    pool = await pool_of(dead, alive, tries=2, base_delay_s=10.0)  # a backoff would outlast the test
    for _ in range(3):
        served = await call(pool)
        assert (served.result.text, served.backend) == ("ok", "b")
    assert len(dead.calls) == 3 and len(alive.calls) == 3


async def test_the_endpoint_with_fewest_requests_in_flight_gets_the_call() -> None:
    busy, idle = FaultSource("a", forever("busy")), FaultSource("b", forever("idle"))
    pool = await pool_of(busy, idle)
    pool.members["a"].load.in_flight = 3
    assert (await call(pool)).result.text == "idle"
    pool.members["a"].load.in_flight = 0
    pool.members["b"].load.in_flight = 1
    assert (await call(pool)).result.text == "busy"


async def test_one_endpoint_is_retried_with_backoff_until_success() -> None:
    source = FaultSource("a", iter([BackendUnavailableError("refused")] * 2 + ["ok"]))
    pool = await pool_of(source, tries=3)
    assert (await call(pool)).result.text == "ok"
    assert len(source.calls) == 3
    assert breaker(pool, "a") == CircuitBreakerState.CLOSED  # consecutive failures reset by the success


async def test_timeouts_are_not_retried() -> None:
    slow, other = FaultSource("a", forever(BackendTimeoutError("slow"))), FaultSource("b", forever("ok"))
    pool = await pool_of(slow, other, fail_max=10, tries=5)
    with pytest.raises(BackendTimeoutError):
        await call(pool)
    assert len(slow.calls) == 1 and other.calls == []


async def test_retries_and_their_sleeps_stop_at_the_deadline() -> None:
    source = FaultSource("a", forever(BackendUnavailableError("refused")))
    pool = EndpointPool("m", RetryPolicy(max_tries=50, base_delay_s=0.2, max_delay_s=5), proven_for_s=1.0)
    pool.sync({"a": Load("a")}, lambda load: Member(load, source, new_breaker(100, 10, "a")))
    await pool.watch()
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError):
        await call(pool, deadline_s=0.5)
    assert time.monotonic() - started < 0.5 + 0.1  # no sleep starts that would end past the deadline
    assert 1 < len(source.calls) < 50


async def test_a_moved_version_is_learnt_and_asked_again_without_counting_as_a_failure() -> None:
    source = FaultSource("a", iter([VersionMovedError("version 1 is not at ready state"), "ok"]))
    pool = await pool_of(source, fail_max=1, tries=2)
    watched = source.watched
    assert (await call(pool)).result.text == "ok"
    assert source.watched == watched + 1
    assert breaker(pool, "a") == CircuitBreakerState.CLOSED


async def test_members_follow_the_endpoints() -> None:
    pool = await pool_of(FaultSource("a", forever("x")), FaultSource("b", forever("y")))
    kept = pool.members["a"]
    pool.sync(
        {"a": Load("a"), "c": Load("c")},
        lambda load: Member(load, FaultSource(load.address, forever("z")), new_breaker(1, 1, "c")),
    )
    assert set(pool.members) == {"a", "c"} and pool.members["a"] is kept


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


async def test_the_pool_names_the_precisions_its_admitted_endpoints_run_the_served_version_in() -> None:
    a, b = FaultSource("a", forever("x")), FaultSource("b", forever("x"))
    pool = await pool_of(a, b)
    pool.members["a"].load.precisions[("m", "1")] = "int8"
    pool.members["b"].load.precisions.update({("m", "1"): "fp32", ("other", "1"): "int8"})
    assert pool.precisions == ["fp32", "int8"]
    b.health = ComponentHealth("down", "canary inference failed")
    await pool.watch()
    assert pool.precisions == ["int8"]
    a.version = "2"  # a version whose precision the endpoint's metrics do not say (yet)
    assert pool.precisions == []
    parts = (await pool.check()).parts
    assert parts is not None and parts["a"]["precision"] is None and parts["b"]["precision"] == "fp32"
