"""The gateway reads the precision of each model version from a Triton's metrics text, over real HTTP, and
keeps what it knew when the metrics cannot be read."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.backends.endpoints import TritonEndpoint, precisions_in, read_precisions

EXPOSITION = """# HELP nv_inference_count Number of inferences performed
# TYPE nv_inference_count counter
nv_inference_count{model="whisper-base",version="1"} 12
# HELP dattavani_model_precision 1 for the precision each loaded version of a Whisper model runs in.
# TYPE dattavani_model_precision gauge
dattavani_model_precision{model="whisper-base",precision="int8",version="1"} 1
dattavani_model_precision{model="whisper-base",precision="fp32",version="2"} 1
dattavani_model_precision{model="whisper-tiny.en",precision="int8",version="1"} 0
dattavani_model_precision{model="whisper-tiny.en",version="3"} 1
"""


def test_only_series_at_1_with_every_label_count() -> None:
    assert precisions_in(EXPOSITION) == {("whisper-base", "1"): "int8", ("whisper-base", "2"): "fp32"}
    assert precisions_in("") == {}


@pytest.fixture
async def metrics_server() -> AsyncIterator[dict[str, object]]:
    """A real HTTP server answering /metrics with state["status"] and state["body"]."""
    state: dict[str, object] = {"status": 200, "body": EXPOSITION}

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(status=int(state["status"]), text=str(state["body"]))

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    async with TestServer(app) as server:
        state["url"] = str(server.make_url("/metrics"))
        yield state


async def test_an_endpoint_keeps_its_precisions_while_its_metrics_cannot_be_read(
    metrics_server: dict[str, object],
) -> None:
    endpoint = TritonEndpoint("127.0.0.1:1", client=None, metrics_url=str(metrics_server["url"]))  # type: ignore[arg-type]
    async with aiohttp.ClientSession() as session:
        await read_precisions(endpoint, session)
        assert endpoint.precisions == {("whisper-base", "1"): "int8", ("whisper-base", "2"): "fp32"}
        metrics_server["status"] = 503
        await read_precisions(endpoint, session)
        assert endpoint.precisions == {("whisper-base", "1"): "int8", ("whisper-base", "2"): "fp32"}
        metrics_server.update(status=200, body=EXPOSITION.replace('version="2"} 1', 'version="2"} 0'))
        await read_precisions(endpoint, session)
        assert endpoint.precisions == {("whisper-base", "1"): "int8"}
