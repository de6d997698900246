"""Backpressure and draining: a bound on requests being served and waiting, checked before any upload is read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.errors import ShuttingDownError, TooManyRequestsError


class Admission:
    """At most `max_concurrent` transcriptions run; up to `max_queued` more wait; the rest get 429 at once."""

    def __init__(self, max_concurrent: int, max_queued: int, retry_after_s: int) -> None:
        self.max_concurrent = max_concurrent
        self.max_queued = max_queued
        self._retry_after_s = retry_after_s
        self._slots = asyncio.Semaphore(max_concurrent)
        self._admitted = 0
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.draining = False
        self.sessions = 0

    @property
    def active(self) -> int:
        return self._active

    @property
    def queued(self) -> int:
        return self._admitted - self._active

    @property
    def _full(self) -> bool:
        return self._admitted >= self.max_concurrent + self.max_queued

    @asynccontextmanager
    async def _counted(self) -> AsyncIterator[None]:
        """Counted among the admitted while inside (drain waits for the count to reach zero)."""
        self._admitted += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._admitted -= 1
            if self._admitted == 0:
                self._idle.set()

    def _refuse_while_draining(self) -> None:
        if self.draining:
            raise ShuttingDownError("the gateway is shutting down; retry on another instance")

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        self._refuse_while_draining()
        if self._full:
            raise TooManyRequestsError(
                f"too many requests in flight ({self.max_concurrent} running, {self.max_queued} queued); retry later",
                retry_after_s=self._retry_after_s,
            )
        async with self._counted(), self._slots:
            self._active += 1
            try:
                yield
            finally:
                self._active -= 1

    @asynccontextmanager
    async def session(self, max_sessions: int) -> AsyncIterator[None]:
        """A live session: counted among the admitted (while it is open HTTP requests have fewer places),
        at most `max_sessions` at once; it holds no running slot (its decodes are batched by Triton)."""
        self._refuse_while_draining()
        if self.sessions >= max_sessions or self._full:
            raise TooManyRequestsError(
                f"too many live sessions and requests ({self.sessions} sessions open, at most {max_sessions}; "
                f"{self._admitted} admitted in all); retry later",
                code="too_many_sessions",
                retry_after_s=self._retry_after_s,
            )
        async with self._counted():
            self.sessions += 1
            try:
                yield
            finally:
                self.sessions -= 1

    async def drain(self, timeout_s: float) -> bool:
        """Refuse new work, then wait for admitted work to finish; False if `timeout_s` passed first."""
        self.draining = True
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True
