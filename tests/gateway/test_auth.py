"""Every route but the probes needs a key, sent as a Bearer token or x-api-key; failures are OpenAI-shaped 401s."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from devstack.gateway_process import GatewayProcess
from gateway.app import PROBE_PATHS, PUBLIC_PAGES, load_openapi
from gateway.auth import ApiKeyStore, key_digest
from gateway.config import ConfigError, GatewayConfig
from tests.audio_files import JFK
from tests.gateway.http import error_code
from tests.gateway_process import TEST_API_KEY

# Every route of the OpenAPI spec (tested to be the app's route set) except the probes and the live page, and a 404.
PROTECTED = [
    (method.upper(), path) for path, operations in load_openapi()["paths"].items() for method in operations
    if path not in PROBE_PATHS | PUBLIC_PAGES
] + [("GET", "/no/such/route")]  # fmt: skip


def _call(gateway: GatewayProcess, method: str, path: str, headers: dict[str, str]) -> requests.Response:
    files = {"file": ("jfk.flac", JFK.read_bytes())} if method == "POST" else None
    return requests.request(method, gateway.url + path, headers=headers, files=files, timeout=60)


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"Authorization": "Bearer wrong-key"}, "invalid_api_key"),
        ({"x-api-key": "wrong-key"}, "invalid_api_key"),
        ({"Authorization": f"Basic {TEST_API_KEY}"}, "invalid_api_key"),
        ({"Authorization": f"Bearer {TEST_API_KEY}x"}, "invalid_api_key"),
    ],
)
def test_missing_or_wrong_keys_get_401(
    gateway: GatewayProcess, method: str, path: str, headers: dict[str, str], code: str
) -> None:
    response = _call(gateway, method, path, headers)
    assert response.status_code == 401
    assert error_code(response) == code
    assert response.json()["error"]["type"] == "authentication_error"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {TEST_API_KEY}"},
        {"authorization": f"bearer {TEST_API_KEY}"},
        {"x-api-key": TEST_API_KEY},
    ],
)
def test_the_right_key_in_either_header_is_accepted(gateway: GatewayProcess, headers: dict[str, str]) -> None:
    assert _call(gateway, "POST", "/v1/audio/transcriptions", headers).status_code == 200
    assert _call(gateway, "GET", "/v1/models", headers).status_code == 200


def test_liveness_needs_no_key(gateway: GatewayProcess) -> None:
    response = requests.get(f"{gateway.url}/health/live", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_keys_file_holds_digests_only(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# team A\n{key_digest('alpha').hex()}\n\n{key_digest('beta').hex()}  # rotated in\n")
    store = ApiKeyStore.from_config(GatewayConfig(api_keys_file=keys_file))
    assert store.accepts("alpha") and store.accepts("beta")
    assert not store.accepts(key_digest("alpha").hex())  # the digest itself is no key


def test_a_malformed_keys_file_is_a_config_error(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text("not-a-digest\n")
    with pytest.raises(ConfigError, match=":1: expected a SHA-256 hex digest"):
        ApiKeyStore.from_config(GatewayConfig(api_keys_file=keys_file))


def test_no_keys_at_all_refuses_to_start_unless_auth_is_disabled() -> None:
    with pytest.raises(ConfigError, match="no API keys configured"):
        ApiKeyStore.from_config(GatewayConfig())
    assert ApiKeyStore.from_config(GatewayConfig(auth_disabled=True)).digests == ()
