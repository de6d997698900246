"""Readiness: per-component health from real canary checks, cached for a few seconds."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil

from gateway.admission import Admission
from gateway.backends import ComponentHealth


class CachedHealth:
    """Runs `check` at most once per `ttl_s`; concurrent callers share one run."""

    def __init__(self, check: Callable[[], Awaitable[dict[str, ComponentHealth]]], ttl_s: float) -> None:
        self._check = check
        self._ttl_s = ttl_s
        self._lock = asyncio.Lock()
        self._result: dict[str, ComponentHealth] | None = None
        self._checked_at = 0.0

    async def get(self) -> dict[str, ComponentHealth]:
        async with self._lock:
            if self._result is None or time.monotonic() - self._checked_at >= self._ttl_s:
                self._result = await self._check()
                self._checked_at = time.monotonic()
            return self._result


def system_health(path: Path, min_free_disk_mb: int, min_available_memory_mb: int) -> dict[str, ComponentHealth]:
    """Disk space where the model lives and memory available to the process, against their floors."""
    free_mb = shutil.disk_usage(path).free / 2**20
    available_mb = psutil.virtual_memory().available / 2**20
    return {
        "disk": ComponentHealth(
            "ok" if free_mb >= min_free_disk_mb else "down", f"{free_mb:.0f} MB free (floor {min_free_disk_mb} MB)"
        ),
        "memory": ComponentHealth(
            "ok" if available_mb >= min_available_memory_mb else "down",
            f"{available_mb:.0f} MB available (floor {min_available_memory_mb} MB)",
        ),
    }


def readiness(
    backends: dict[str, ComponentHealth], system: dict[str, ComponentHealth], admission: Admission
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): ready when some backend can serve, disk and memory are above their floors,
    and the gateway is not draining."""
    components = {**backends, **system}
    serving = any(health.ok for health in backends.values()) and all(health.ok for health in system.values())
    ready = serving and not admission.draining
    body = {
        "status": "ready" if ready else ("draining" if admission.draining else "unavailable"),
        "components": {name: {"status": h.status, "message": h.message} for name, h in components.items()},
        "requests": {"running": admission.active, "queued": admission.queued},
    }
    return (200 if ready else 503), body
