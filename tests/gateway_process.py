"""The test gateway's key, and the environment that points a test gateway at a test Triton."""

from __future__ import annotations

from devstack.gateway_process import gateway_environment
from triton_server.launcher import TritonServer

TEST_API_KEY = "test-key-0123456789abcdef"


def gateway_env(triton: TritonServer, **settings: str) -> dict[str, str]:
    """DATTAVANI_* settings for a gateway in front of `triton` with the test key, plus `settings`."""
    return gateway_environment(triton.settings, TEST_API_KEY, **settings)
