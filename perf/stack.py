"""A local serving stack for benchmarks: Triton and the gateway on free loopback ports."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway.launcher import GatewayProcess
from triton_server.launcher import TritonServer, TritonSettings, free_port_block, with_ports
from whisper_runtime.repository import Precision


@dataclass(frozen=True)
class Stack:
    triton: TritonServer
    gateway: GatewayProcess
    api_key: str


@contextmanager
def local_stack(workdir: Path, precision: Precision = "int8") -> Iterator[Stack]:
    """Start Triton, then the gateway in front of it; stop both on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    api_key = secrets.token_urlsafe(16)
    with ExitStack() as stack:
        log = stack.enter_context((workdir / "triton.log").open("ab"))
        settings = with_ports(TritonSettings(precision=precision, workdir=workdir), free_port_block(3))
        triton = stack.enter_context(TritonServer(settings, log=log))
        gateway = GatewayProcess(
            {"DATTAVANI_TRITON_URL": settings.grpc_url, "DATTAVANI_API_KEYS": api_key}, workdir / "gateway.log"
        ).start()
        stack.callback(gateway.stop)
        yield Stack(triton=triton, gateway=gateway, api_key=api_key)
