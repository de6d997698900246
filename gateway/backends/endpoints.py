"""The Triton servers the gateway sends to: a fixed list, or every address a DNS name resolves to (a
Kubernetes headless Service lists one per ready pod), resolved again every `refresh_s`.

Each endpoint has one long-lived gRPC client, shared by the models it serves, a count of the requests in
flight to it (the balancing key) and, where configured, the URL of its metrics, from which the precision each
loaded model version runs in is read (`triton_models.contract.PRECISION_METRIC`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
import tritonclient.grpc.aio as grpcclient
from prometheus_client.parser import text_string_to_metric_families

from gateway.backends.triton import CHANNEL_ARGS
from gateway.config import Discovery
from triton_models.contract import PRECISION_METRIC

log = logging.getLogger("gateway.endpoints")

HOST_PLACEHOLDER = "{host}"  # in a metrics URL: each endpoint's host
METRICS_TIMEOUT_S = 2.0


@dataclass(eq=False)
class TritonEndpoint:
    address: str  # host:port (gRPC)
    client: grpcclient.InferenceServerClient
    metrics_url: str | None
    in_flight: int = 0
    precisions: dict[tuple[str, str], str] = field(default_factory=dict)  # (model, version) -> precision


def precisions_in(exposition: str) -> dict[tuple[str, str], str]:
    """(model, version) -> precision, from the PRECISION_METRIC series of a Triton's metrics text."""
    series = "\n".join(line for line in exposition.splitlines() if line.startswith(PRECISION_METRIC))
    return {
        (sample.labels["model"], sample.labels["version"]): sample.labels["precision"]
        for family in text_string_to_metric_families(series)
        for sample in family.samples
        if sample.value == 1 and {"model", "version", "precision"} <= sample.labels.keys()
    }


async def read_precisions(endpoint: TritonEndpoint, session: aiohttp.ClientSession) -> None:
    """The endpoint's precisions as its metrics say now; kept as they were when its metrics cannot be read."""
    if endpoint.metrics_url is None:
        return
    try:
        timeout = aiohttp.ClientTimeout(total=METRICS_TIMEOUT_S)
        async with session.get(endpoint.metrics_url, timeout=timeout) as response:
            response.raise_for_status()
            exposition = await response.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.info("cannot read the metrics of Triton at %s (%s)", endpoint.address, exc)
        return
    endpoint.precisions = precisions_in(exposition)


def split_address(address: str) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`) -> (host, port); ValueError saying what is wrong."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"{address!r} is not host:port")
    return host.strip("[]"), int(port)


def join_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def metrics_url_for(templates: Sequence[str], index: int, host: str) -> str | None:
    """The metrics URL of the `index`-th configured endpoint (or of one discovered on `host`): its own entry,
    or the single entry with `{host}` filled in."""
    if not templates:
        return None
    template = templates[index] if len(templates) > 1 else templates[0]
    return template.replace(HOST_PLACEHOLDER, host)


async def resolve(address: str) -> list[str]:
    """Every address `address`'s host resolves to, with its port, in a stable order."""
    host, port = split_address(address)
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({join_address(str(info[4][0]), port) for info in infos})


class EndpointDirectory:
    """The endpoints now known, by address."""

    def __init__(
        self, urls: Sequence[str], discovery: Discovery, refresh_s: float, metrics_urls: Sequence[str]
    ) -> None:
        self._urls = tuple(urls)
        self._discovery = discovery
        self._refresh_s = refresh_s
        self._metrics_urls = tuple(metrics_urls)
        self._resolved_at = -float("inf")
        self._closing: set[asyncio.Task[None]] = set()
        self.endpoints: dict[str, TritonEndpoint] = {}

    async def refresh(self) -> None:
        """The fixed endpoints on the first call; with DNS discovery, the names resolved again once `refresh_s`
        has passed: new addresses get an endpoint, vanished ones are dropped (a name that does not resolve
        keeps the endpoints it had, so a DNS hiccup does not empty the pool)."""
        if self.endpoints and (self._discovery == "static" or time.monotonic() - self._resolved_at < self._refresh_s):
            return
        self._resolved_at = time.monotonic()
        wanted: dict[str, int] = {}  # address -> index of the configured entry it came from
        for index, url in enumerate(self._urls):
            if self._discovery == "static":
                wanted[url] = index
                continue
            try:
                wanted.update(dict.fromkeys(await resolve(url), index))
            except OSError as exc:
                log.warning("cannot resolve %s (%s); keeping its endpoints", url, exc)
                wanted.update({address: index for address in self.endpoints})
        for address, index in wanted.items():
            if address not in self.endpoints:
                log.info("Triton endpoint %s added", address)
                metrics = metrics_url_for(self._metrics_urls, index, split_address(address)[0])
                self.endpoints[address] = TritonEndpoint(
                    address, grpcclient.InferenceServerClient(address, channel_args=CHANNEL_ARGS), metrics
                )
        for address in set(self.endpoints) - set(wanted):
            log.info("Triton endpoint %s removed", address)
            task = asyncio.create_task(self._close_when_idle(self.endpoints.pop(address)))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close_when_idle(endpoint: TritonEndpoint, patience_s: float = 60.0) -> None:
        """Close a removed endpoint's client once its requests in flight have finished (or after `patience_s`)."""
        deadline = time.monotonic() + patience_s
        while endpoint.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        await endpoint.client.close()

    async def close(self) -> None:
        for task in list(self._closing):
            task.cancel()
        for endpoint in self.endpoints.values():
            await endpoint.client.close()
