"""One model served by several Triton endpoints, balanced: each window goes to the admitted endpoint with
the fewest requests in flight (counted across the endpoint's models); a call that did not get through is
retried on another endpoint first, with backoff once every endpoint has been tried; the chain's next
backend (the CPU fallback) is reached only when every endpoint failed.

An endpoint is admitted while its last check was healthy and its breaker is not open. It is ejected by
a failed check, by its breaker (`breaker_fail_max` consecutive failures) or by answering that it does
not serve the model (`model_not_loaded`), and it is re-admitted,
breaker closed, as soon as a check's canary inference answers. A check (`watch`) runs a canary inference on an
endpoint not admitted, and on one that neither a request nor a canary proved within `proven_for_s` (within twice
that while the check is asked to hold such canaries: live utterances want the CPU).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar

import numpy as np
from aiobreaker import CircuitBreaker, CircuitBreakerError, CircuitBreakerState
from opentelemetry import trace

from gateway.backends import ComponentHealth, Deadline, Served, WindowBackend
from gateway.backends.resilience import RetryPolicy
from gateway.errors import BackendError, BackendUnavailableError, CircuitOpenError, VersionMovedError
from whisper_runtime.window_decoder import WindowRequest

log = logging.getLogger("gateway.pool")


class EndpointLoad(Protocol):
    """An endpoint as balancing sees it (gateway.backends.endpoints.TritonEndpoint)."""

    address: str
    in_flight: int
    precisions: dict[tuple[str, str], str]  # (model, version) -> the precision it runs in, where known


class EndpointBackend(WindowBackend, Protocol):
    """One model on one endpoint (gateway.backends.triton.TritonBackend)."""

    version: str

    @property
    def refused_versions(self) -> dict[str, str]:
        """Version -> why it could not be loaded (the versions above the one serving)."""
        ...

    async def watch(self, prove: bool) -> ComponentHealth:
        """Health now; a canary inference when `prove` asks for one."""
        ...


Load = TypeVar("Load", bound=EndpointLoad)

# (endpoint address, model, outcome: "ok" or an error code) of every call, for metrics
AttemptListener = Callable[[str, str, str], None]


class Member:
    """One endpoint's share of one model: its backend, breaker and last check."""

    def __init__(self, load: EndpointLoad, backend: EndpointBackend, breaker: CircuitBreaker) -> None:
        self.load = load
        self.backend = backend
        self.breaker = breaker
        self.health = ComponentHealth("down", "not checked yet")
        self._proven_at = -float("inf")  # when a call or a canary last succeeded

    @property
    def address(self) -> str:
        return self.load.address

    @property
    def admitted(self) -> bool:
        return self.health.ok and self.breaker.current_state != CircuitBreakerState.OPEN

    async def decode(
        self, pcm: np.ndarray, window: WindowRequest | None, request_id: str, deadline: Deadline
    ) -> Served:
        self.load.in_flight += 1
        try:
            served: Served = await self.breaker.call_async(
                self.backend.decode_window, pcm, window, request_id, deadline
            )
        except CircuitBreakerError as exc:  # open, or opened by this very failure
            raise CircuitOpenError(f"Triton at {self.address} is failing; its circuit breaker is open") from exc
        finally:
            self.load.in_flight -= 1
        self._proven_at = time.monotonic()
        return served

    async def watch(self, proven_for_s: float, hold: bool = False) -> None:
        """Check the endpoint: a canary inference while it is not admitted, or where no call or canary proved it
        within `proven_for_s` (twice that with `hold`); a healthy check closes an open breaker."""
        unproven = not self.admitted or time.monotonic() - self._proven_at > proven_for_s * (2 if hold else 1)
        self.health = await self.backend.watch(prove=unproven)
        if unproven and self.health.ok:
            self._proven_at = time.monotonic()
        if self.health.ok and self.breaker.current_state != CircuitBreakerState.CLOSED:
            log.info("Triton endpoint %s re-admitted: %s", self.address, self.health.message)
            self.breaker.close()

    def precision(self, model: str) -> str | None:
        """The precision the endpoint runs the version of `model` served in (None: its metrics do not say)."""
        return self.load.precisions.get((model, self.backend.version))

    def report(self, model: str) -> dict[str, object]:
        return {
            "status": "ok" if self.admitted else "down",
            "message": self.health.message,
            "version": self.backend.version,
            "precision": self.precision(model),
            "in_flight": self.load.in_flight,
            "breaker": self.breaker.current_state.name.lower(),
        }


class EndpointPool:
    """The Triton backend of one model: the `members` (by endpoint address) that serve it."""

    name = "triton"

    def __init__(
        self,
        model: str,
        retry: RetryPolicy,
        proven_for_s: float,
        on_attempt: AttemptListener | None = None,
    ) -> None:
        self.model = model
        self.members: dict[str, Member] = {}
        self._retry = retry
        self._proven_for_s = proven_for_s
        self._on_attempt = on_attempt

    def sync(self, loads: Mapping[str, Load], new_member: Callable[[Load], Member]) -> None:
        """Members for exactly the endpoints in `loads`: new ones made by `new_member`, gone ones dropped."""
        for address in set(self.members) - set(loads):
            del self.members[address]
        for address, load in loads.items():
            if address not in self.members:
                self.members[address] = new_member(load)

    async def watch(self, hold: bool = False) -> None:
        """Check every member at once (a dead endpoint's slow check does not hold up the others'); `hold`: canaries
        of admitted members wait up to twice `proven_for_s`."""
        await asyncio.gather(*(member.watch(self._proven_for_s, hold) for member in list(self.members.values())))

    async def decode_window(
        self, pcm: np.ndarray, window: WindowRequest | None, request_id: str, deadline: Deadline
    ) -> Served:
        """The first answer of up to `retry.max_tries` calls, each to the least-loaded admitted endpoint not
        tried yet (any admitted one, after a backoff, once all were); timeouts are not retried (the work may
        still be running) and nothing outlasts the deadline."""
        tried: set[str] = set()
        failure: BackendError | None = None
        for attempt in range(self._retry.max_tries):
            admitted = [member for member in self.members.values() if member.admitted]
            fresh = [member for member in admitted if member.address not in tried]
            if admitted and not fresh:  # every admitted endpoint failed once: wait before the next round
                delay = self._retry.delay(attempt)
                if delay >= deadline.remaining():
                    break
                trace.get_current_span().add_event("retry", {"attempt": attempt + 1, "wait_s": round(delay, 3)})
                await asyncio.sleep(delay)
                fresh = [member for member in self.members.values() if member.admitted]
            if not fresh:
                break
            member = min(fresh, key=lambda candidate: candidate.load.in_flight)
            tried.add(member.address)
            try:
                served = await member.decode(pcm, window, request_id, deadline)
            except VersionMovedError as exc:  # a rollout moved on: learn the new version, then go again
                self._attempted(member, exc.code)
                failure = exc
                tried.discard(member.address)
                await member.watch(self._proven_for_s)
                continue
            except (BackendUnavailableError, CircuitOpenError) as exc:  # it did not get through: try elsewhere
                self._attempted(member, exc.code)
                failure = exc
                if exc.code == "model_not_loaded":  # the endpoint says so itself: no use trying it again
                    member.health = ComponentHealth("down", f"ejected: {exc.message}")
                log.info("request %s: Triton at %s failed (%s), trying again", request_id, member.address, exc.code)
                continue
            except BackendError as exc:
                self._attempted(member, exc.code)
                raise
            self._attempted(member, "ok")
            return served
        raise failure or CircuitOpenError(f"no Triton endpoint serves {self.model} now: every one is ejected")

    def _attempted(self, member: Member, outcome: str) -> None:
        if self._on_attempt is not None:
            self._on_attempt(member.address, self.model, outcome)

    @property
    def precisions(self) -> list[str]:
        """The precisions the admitted endpoints run the model in, as their metrics say."""
        found = {member.precision(self.model) for member in self.members.values() if member.admitted}
        return sorted(precision for precision in found if precision is not None)

    async def check(self) -> ComponentHealth:
        """The members' last checks (the watch keeps them fresh): ok while any endpoint is admitted."""
        admitted = sum(member.admitted for member in self.members.values())
        message = f"{admitted} of {len(self.members)} Triton endpoints serve {self.model}"
        parts = {address: member.report(self.model) for address, member in self.members.items()}
        return ComponentHealth("ok" if admitted else "down", message, parts)

    async def close(self) -> None:
        for member in self.members.values():
            await member.backend.close()
