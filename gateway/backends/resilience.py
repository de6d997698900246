"""The circuit breaker (aiobreaker) of each Triton endpoint and the retry policy of the pool around them.

What counts as a failure is explicit: only BackendError (connection errors, timeouts, Triton's own
failures) trips a breaker; a client's bad input never does, nor a version a rollout moved away from.
Only calls that did not get through (BackendUnavailableError) are retried (gateway.backends.pool);
timeouts are not, since the work may still be running.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from aiobreaker import CircuitBreaker

from gateway.errors import BackendError, VersionMovedError


@dataclass(frozen=True)
class RetryPolicy:
    max_tries: int = 3
    base_delay_s: float = 0.1
    max_delay_s: float = 2.0

    def delay(self, attempt: int) -> float:
        """Full-jitter exponential backoff before try `attempt + 1`: uniform in [0, min(max, base * 2^attempt)]."""
        return random.uniform(0.0, min(self.max_delay_s, self.base_delay_s * 2**attempt))  # noqa: S311  # nosec B311


def counts_as_failure(exc: BaseException) -> bool:
    return isinstance(exc, BackendError) and not isinstance(exc, VersionMovedError)


def new_breaker(fail_max: int, recovery_s: float, name: str) -> CircuitBreaker:
    """A breaker that opens after `fail_max` consecutive backend failures and lets a call through again
    after `recovery_s` (the pool's watch closes it sooner, once the endpoint's canary answers)."""
    return CircuitBreaker(
        fail_max=fail_max,
        timeout_duration=timedelta(seconds=recovery_s),
        exclude=[lambda exc: not counts_as_failure(exc)],
        name=name,
    )
