"""Fixtures of the Triton tests: the entry model's contract holds in every serving profile."""

from __future__ import annotations

import pytest

from triton_server.launcher import TritonServer


@pytest.fixture(params=["default", "pipeline"])
def served(request: pytest.FixtureRequest) -> TritonServer:
    """The session's int8 Triton in the default profile (fused on a CPU), then in the pipeline profile."""
    return request.getfixturevalue("triton" if request.param == "default" else "triton_pipeline")
