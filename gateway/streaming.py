"""`stream=true`: segments sent as Server-Sent Events in OpenAI's transcription stream shape.

One `transcript.text.delta` event per segment as its window is decoded, then one
`transcript.text.done` event with the whole text (the deltas concatenated). The response opens
with the first segment, so a failure before any text is an ordinary JSON error with its HTTP
status; a failure after that is an `error` event (OpenAI's SDK raises it as an APIError). When
the client goes away, writing fails and the remaining windows are not decoded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing

from aiohttp import web

from gateway.errors import ApiError
from whisper_runtime.transcription import Segment

log = logging.getLogger("gateway.streaming")

DELTA = "transcript.text.delta"
DONE = "transcript.text.done"


Headers = Callable[[], dict[str, str]]


class EventStream:
    """The SSE response, opened with the first event; `headers()` gives the headers it opens with."""

    def __init__(self, request: web.Request, headers: Headers) -> None:
        self._request = request
        self._headers = headers
        self._response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        self.text = ""

    @property
    def response(self) -> web.StreamResponse:
        return self._response

    @property
    def opened(self) -> bool:
        return self._response.prepared

    async def send(self, payload: dict[str, object]) -> None:
        if not self.opened:
            self._response.headers.update(self._headers())
            await self._response.prepare(self._request)
        await self._response.write(f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode())

    async def send_delta(self, segment_text: str) -> None:
        delta = f" {segment_text}" if self.text else segment_text
        self.text += delta
        await self.send({"type": DELTA, "delta": delta})

    async def finish(self) -> web.StreamResponse:
        await self._response.write_eof()
        return self._response


async def stream_segments(
    request: web.Request, segments: AsyncIterator[Segment], headers: Headers
) -> web.StreamResponse:
    """Send each segment as a delta event as it arrives, then the done event; the response opens with the
    headers `headers()` gives when the first event is sent."""
    stream = EventStream(request, headers)
    try:
        try:
            async with aclosing(segments):  # type: ignore[type-var]  # an async generator
                async for segment in segments:
                    await stream.send_delta(segment.text)
            await stream.send({"type": DONE, "text": stream.text})
        except ApiError as error:
            if not stream.opened:
                raise
            log.warning("a stream failed after it started: %s", error.code)
            await stream.send({"type": "error", **error.body()})
        return await stream.finish()
    except ConnectionResetError:
        log.info("the client closed the stream; the rest of its audio is not transcribed")
        return stream.response
