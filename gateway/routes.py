"""Route handlers: short functions that call the intake, the backend and the formats."""

from __future__ import annotations

import time

from aiohttp import web

from gateway.app_keys import ADMISSION, CHAIN, CONFIG, DECODER, HEALTH, OPENAPI
from gateway.backends import Deadline
from gateway.formats import Transcript, render
from gateway.health import readiness
from gateway.intake import read_form
from gateway.middlewares import REQUEST_ID
from gateway.params import parse_params
from whisper_runtime.audio import SAMPLE_RATE

STARTED_AT = int(time.time())


async def transcriptions(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    async with request.app[ADMISSION].admit():  # before the upload is read: a refusal costs nothing
        deadline = Deadline.after(config.request_timeout_s)
        form = await read_form(request, config)
        params = parse_params(form.fields, config)
        pcm = await request.app[DECODER].decode(form.audio)
        served = await request.app[CHAIN].transcribe(pcm, request[REQUEST_ID], deadline)
    response = render(Transcript.single_window(served.text, pcm.size / SAMPLE_RATE), params.response_format)
    response.headers["X-Served-By"] = served.backend
    return response


async def models(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    return web.json_response(
        {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": STARTED_AT, "owned_by": "dattavani"}
                for name in config.served_model_names
            ],
        }
    )


async def live(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    status, body = readiness(await request.app[HEALTH].get(), request.app[ADMISSION])
    return web.json_response(body, status=status)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/audio/transcriptions", transcriptions)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", ready)
    app.router.add_get("/openapi.json", openapi)
