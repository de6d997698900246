"""The Triton side of the gateway kept current in the background: endpoints discovered (DNS), each model's
pool given a member per endpoint, every member checked and each endpoint's precisions read, every
`interval_s`. While `busy()` says live work is under way (utterances open or awaiting their final text), the
canaries that only re-prove an idle model wait (up to twice `canary_idle_s`): such a canary beside a final kept it
at one thread."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp

from gateway.backends.endpoints import EndpointDirectory, TritonEndpoint, read_precisions
from gateway.backends.pool import EndpointPool, Member
from gateway.backends.resilience import new_breaker
from gateway.backends.triton import TritonBackend
from gateway.config import GatewayConfig

log = logging.getLogger("gateway.watch")


def member_factory(config: GatewayConfig, model: str) -> Callable[[TritonEndpoint], Member]:
    """Members of `model`'s pool: the endpoint's client, and a breaker of its own per endpoint and model (a
    model or an endpoint that fails does not open the others' breakers)."""

    def new_member(endpoint: TritonEndpoint) -> Member:
        backend = TritonBackend(endpoint.client, endpoint.address, model, config.triton_timeout_s)
        breaker = new_breaker(config.breaker_fail_max, config.breaker_recovery_s, f"triton:{endpoint.address}:{model}")
        return Member(endpoint, backend, breaker)

    return new_member


class TritonWatch:
    def __init__(
        self,
        directory: EndpointDirectory,
        config: GatewayConfig,
        pools: list[EndpointPool],
        session: aiohttp.ClientSession,
        busy: Callable[[], bool],
    ) -> None:
        self.directory = directory
        self._busy = busy
        self._session = session
        self.pools = pools
        self._factories = {pool.model: member_factory(config, pool.model) for pool in pools}
        self._interval_s = config.canary_interval_s

    async def round(self) -> None:
        await self.directory.refresh()
        for pool in self.pools:
            pool.sync(self.directory.endpoints, self._factories[pool.model])
        endpoints = list(self.directory.endpoints.values())
        hold = self._busy()
        await asyncio.gather(
            *(pool.watch(hold) for pool in self.pools),
            *(read_precisions(e, self._session) for e in endpoints),
        )

    async def run(self) -> None:
        """Rounds forever, `interval_s` apart; a round that fails is logged and the next one runs."""
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.round()
            except Exception:  # the watch must outlive any one failure, or endpoints would never be re-admitted
                log.exception("checking the Triton endpoints failed")
