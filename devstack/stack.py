"""A local stack: a Triton on free ports and a gateway in front of it, started together and stopped together."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack.gateway_process import GatewayProcess, gateway_environment
from triton_server.launcher import Profile, TritonServer, triton_on_free_ports
from whisper_runtime.repository import DEFAULT_REPOSITORY, Precision


@dataclass(frozen=True)
class Stack:
    triton: TritonServer
    gateway: GatewayProcess
    api_key: str


@contextmanager
def local_stack(
    workdir: Path,
    precision: Precision = "int8",
    gateway_env: dict[str, str] | None = None,
    profile: Profile | None = None,
    models: tuple[str, ...] | None = None,
    repository: Path = DEFAULT_REPOSITORY,
) -> Iterator[Stack]:
    """Start Triton serving `models` (None: every exported one) of `repository` in `profile` (None: the
    default), then the gateway in front of it serving the same models from the same repository (configured
    further by `gateway_env`); stop both on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    api_key = secrets.token_urlsafe(16)
    with ExitStack() as stack:
        triton = stack.enter_context(
            triton_on_free_ports(workdir, precision, repository=repository, profile=profile, models=models)
        )
        env = gateway_environment(
            triton.settings, api_key, DATTAVANI_MODEL_REPOSITORY=str(repository), **(gateway_env or {})
        )
        gateway = GatewayProcess(env, workdir / "gateway.log").start()
        stack.callback(gateway.stop)
        yield Stack(triton=triton, gateway=gateway, api_key=api_key)
