"""API-key authentication: keys are held only as SHA-256 digests and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from gateway.config import ConfigError, GatewayConfig
from gateway.errors import AuthenticationError

BEARER = re.compile(r"^\s*Bearer\s+(\S+)\s*$", re.IGNORECASE)
API_KEY_HEADER = "x-api-key"
# Browsers cannot set headers on a WebSocket: they offer the key as a subprotocol, as OpenAI's realtime API takes it.
KEY_SUBPROTOCOL = "openai-insecure-api-key."
WWW_AUTHENTICATE = 'Bearer realm="dattavani-asr"'


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def _read_digest_file(path: Path) -> list[bytes]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"api_keys_file {path}: {exc}") from exc
    digests = []
    for number, line in enumerate(lines, start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        if not re.fullmatch(r"[0-9a-fA-F]{64}", entry):
            raise ConfigError(f"api_keys_file {path}:{number}: expected a SHA-256 hex digest")
        digests.append(bytes.fromhex(entry))
    return digests


@dataclass(frozen=True)
class ApiKeyStore:
    """The accepted keys, as digests only."""

    digests: tuple[bytes, ...]

    @classmethod
    def from_config(cls, config: GatewayConfig) -> ApiKeyStore:
        digests = [key_digest(key) for key in config.api_keys]
        if config.api_keys_file is not None:
            digests += _read_digest_file(config.api_keys_file)
        if not digests and not config.auth_disabled:
            raise ConfigError(
                "no API keys configured: set DATTAVANI_API_KEYS or DATTAVANI_API_KEYS_FILE "
                "(or DATTAVANI_AUTH_DISABLED=true for a closed test network)"
            )
        return cls(tuple(digests))

    def accepts(self, key: str) -> bool:
        """True if `key` is one of ours; the time taken does not depend on which key matches."""
        presented = key_digest(key)
        matched = False
        for digest in self.digests:
            matched |= hmac.compare_digest(digest, presented)
        return matched


def presented_key(request: web.Request) -> str | None:
    """The key sent as `Authorization: Bearer KEY`, `x-api-key: KEY`, or (a WebSocket from a browser) the
    subprotocol `openai-insecure-api-key.KEY`, if any."""
    authorization = request.headers.get("Authorization")
    if authorization:
        match = BEARER.match(authorization)
        return match.group(1) if match else ""
    if API_KEY_HEADER in request.headers:
        return request.headers[API_KEY_HEADER]
    offered = request.headers.get("Sec-WebSocket-Protocol", "").split(",")
    return next((p.strip()[len(KEY_SUBPROTOCOL) :] for p in offered if p.strip().startswith(KEY_SUBPROTOCOL)), None)


def authenticate(request: web.Request, store: ApiKeyStore) -> None:
    """Raise AuthenticationError unless the request carries an accepted key."""
    key = presented_key(request)
    if key is None:
        raise AuthenticationError(
            "missing API key: send 'Authorization: Bearer KEY' or 'x-api-key: KEY' (a browser's WebSocket: the "
            f"subprotocol '{KEY_SUBPROTOCOL}KEY')",
            code="missing_api_key",
        )
    if not store.accepts(key):
        raise AuthenticationError("invalid API key", code="invalid_api_key")
