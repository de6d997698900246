"""Plain HTTP calls to the gateway (requests), with the test key unless told otherwise."""

from __future__ import annotations

import requests

from devstack.gateway_process import GatewayProcess
from tests.gateway_process import TEST_API_KEY

AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}


def post_audio(
    gateway: GatewayProcess,
    audio: bytes,
    filename: str = "audio.bin",
    fields: dict[str, str] | None = None,
    headers: dict[str, str] | None = AUTH,
) -> requests.Response:
    return requests.post(
        f"{gateway.url}/v1/audio/transcriptions",
        files={"file": (filename, audio)},
        data=fields or {},
        headers=headers,
        timeout=120,
    )


def error_code(response: requests.Response) -> str:
    body = response.json()
    assert set(body["error"]) >= {"message", "type", "code"}, body
    return str(body["error"]["code"])
