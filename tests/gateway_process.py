"""The test gateway's key, and the environment that points a test gateway at a test Triton."""

from __future__ import annotations

from triton_server.launcher import TritonServer

TEST_API_KEY = "test-key-0123456789abcdef"


def gateway_env(triton: TritonServer, **settings: str) -> dict[str, str]:
    """DATTAVANI_* settings for a gateway in front of `triton` with the test key, plus `settings`."""
    return {
        "DATTAVANI_TRITON_URL": triton.settings.grpc_url,
        "DATTAVANI_TRITON_METRICS_URL": triton.settings.metrics_url,
        "DATTAVANI_API_KEYS": TEST_API_KEY,
        **settings,
    }
