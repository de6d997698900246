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

ModelsHealth = dict[str, dict[str, ComponentHealth]]  # model -> backend -> health


class CachedHealth:
    """Runs `check` at most once per `ttl_s`; concurrent callers share one run."""

    def __init__(self, check: Callable[[], Awaitable[ModelsHealth]], ttl_s: float) -> None:
        self._check = check
        self._ttl_s = ttl_s
        self._lock = asyncio.Lock()
        self._result: ModelsHealth | None = None
        self._checked_at = 0.0

    async def get(self) -> ModelsHealth:
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


def _report(health: ComponentHealth) -> dict[str, Any]:
    report: dict[str, Any] = {"status": health.status, "message": health.message}
    if health.parts is not None:
        report["endpoints"] = health.parts
    return report


def readiness(
    models: ModelsHealth, system: dict[str, ComponentHealth], admission: Admission
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): ready when every model has a backend that can serve, degraded (still 200) when
    only some have, unavailable when none has or disk or memory is below its floor; draining on shutdown."""
    serving = {name: any(health.ok for health in backends.values()) for name, backends in models.items()}
    system_ok = all(health.ok for health in system.values())
    if admission.draining:
        status = "draining"
    elif not system_ok or not any(serving.values()):
        status = "unavailable"
    else:
        status = "ready" if all(serving.values()) else "degraded"
    body = {
        "status": status,
        "models": {
            name: {
                "status": "ok" if serving[name] else "down",
                "backends": {backend: _report(health) for backend, health in backends.items()},
            }
            for name, backends in models.items()
        },
        "components": {name: _report(health) for name, health in system.items()},
        "requests": {"running": admission.active, "queued": admission.queued},
    }
    return (200 if status in ("ready", "degraded") else 503), body
