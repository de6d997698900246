"""A circuit breaker (aiobreaker) and retries with exponential backoff (backoff) around a backend.

What counts as a failure is explicit: only BackendError (connection errors, timeouts, Triton's
own failures) trips the breaker; a client's bad input never does. Only BackendUnavailableError
is retried (the call did not get through, so trying again is safe); timeouts are not retried,
since the work may still be running. Retries and their sleeps never outlast the deadline.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import backoff
import numpy as np
from aiobreaker import CircuitBreaker, CircuitBreakerError, CircuitBreakerState
from opentelemetry import trace

from gateway.backends import ComponentHealth, Deadline, TranscriptionBackend
from gateway.errors import BackendError, BackendUnavailableError, CircuitOpenError
from whisper_runtime.decoding import DecodingResult
from whisper_runtime.window_decoder import WindowRequest

log = logging.getLogger("gateway.resilience")


@dataclass(frozen=True)
class RetryPolicy:
    max_tries: int = 3
    base_delay_s: float = 0.1
    max_delay_s: float = 2.0


def new_breaker(fail_max: int, recovery_s: float, name: str) -> CircuitBreaker:
    """A breaker that opens after `fail_max` consecutive backend failures and probes again after `recovery_s`."""
    return CircuitBreaker(
        fail_max=fail_max,
        timeout_duration=timedelta(seconds=recovery_s),
        exclude=[lambda exc: not isinstance(exc, BackendError)],
        name=name,
    )


class ResilientBackend:
    """`inner` behind a breaker, with bounded retries inside each call the breaker lets through."""

    def __init__(self, inner: TranscriptionBackend, breaker: CircuitBreaker, retry: RetryPolicy) -> None:
        self.name = inner.name
        self.breaker = breaker
        self._inner = inner
        self._retry = retry

    @property
    def state(self) -> CircuitBreakerState:
        return self.breaker.current_state

    @property
    def breaker_open(self) -> bool:
        """True while the breaker is open or half-open (probing)."""
        return self.state != CircuitBreakerState.CLOSED

    async def decode_window(
        self, pcm: np.ndarray, window: WindowRequest | None, request_id: str, deadline: Deadline
    ) -> DecodingResult:
        try:
            result: DecodingResult = await self.breaker.call_async(
                self._with_retries, pcm, window, request_id, deadline
            )
        except CircuitBreakerError as exc:  # open, or opened by this very failure
            raise CircuitOpenError(f"{self.name} is failing; its circuit breaker is open") from exc
        return result

    async def _with_retries(
        self, pcm: np.ndarray, window: WindowRequest | None, request_id: str, deadline: Deadline
    ) -> DecodingResult:
        @backoff.on_exception(
            backoff.expo,
            BackendUnavailableError,
            max_tries=self._retry.max_tries,
            max_time=deadline.remaining(),
            jitter=backoff.full_jitter,
            factor=self._retry.base_delay_s,
            max_value=self._retry.max_delay_s,
            on_backoff=self._record_retry,
            logger=None,
        )
        async def attempt() -> DecodingResult:
            return await self._inner.decode_window(pcm, window, request_id, deadline)

        return await attempt()

    def _record_retry(self, details: Mapping[str, Any]) -> None:
        attempt, wait = details["tries"], details.get("wait", 0.0)
        log.info("retrying %s (attempt %d) in %.2f s", self.name, attempt, wait)
        trace.get_current_span().add_event("retry", {"attempt": attempt, "wait_s": round(wait, 3)})

    async def check(self) -> ComponentHealth:
        health = await self._inner.check()
        return ComponentHealth(health.status, f"{health.message}; circuit breaker {self.state.name.lower()}")

    async def close(self) -> None:
        await self._inner.close()
