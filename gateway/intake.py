"""Audio intake: the multipart upload read under size limits, then decoded off the event loop."""

from __future__ import annotations

import asyncio
import io
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from gateway.config import GatewayConfig
from gateway.errors import (
    ClientClosedRequestError,
    EmptyFileError,
    InvalidAudioFileError,
    InvalidParameterError,
    InvalidRequestError,
    MissingFileError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    UploadTimeoutError,
)
from whisper_runtime.audio import DecodeLimits, decode_audio, validate_pcm
from whisper_runtime.errors import InvalidAudioError

FILE_FIELD = "file"
MAX_PARTS = 64
# Room for multipart boundaries, part headers and the small text fields around the file.
FORM_OVERHEAD_BYTES = 64 * 1024
CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class UploadedForm:
    audio: bytes
    filename: str | None
    fields: dict[str, list[str]]


async def _read_part(part: BodyPartReader, limit: int, too_large: Exception) -> bytes:
    chunks, size = [], 0
    while chunk := await part.read_chunk(CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _utf8(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidParameterError(f"form field {name!r} is not UTF-8 text", param=name) from exc


async def read_form(request: web.Request, config: GatewayConfig) -> UploadedForm:
    """The upload's file and text fields, received within `upload_timeout_s`; oversized uploads are
    refused before they are read whole."""
    try:
        async with asyncio.timeout(config.upload_timeout_s):
            return await _read_form(request, config)
    except TimeoutError as exc:
        raise UploadTimeoutError(f"the upload did not arrive within {config.upload_timeout_s:g} s") from exc
    except ConnectionResetError as exc:
        raise ClientClosedRequestError("the client closed the connection before its upload was complete") from exc


async def _read_form(request: web.Request, config: GatewayConfig) -> UploadedForm:
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaTypeError(
            f"expected multipart/form-data, got {request.content_type or 'no content type'}"
        )
    file_too_large = PayloadTooLargeError(f"the upload exceeds the limit of {config.max_upload_bytes} bytes")
    if request.content_length is not None and request.content_length > config.max_upload_bytes + FORM_OVERHEAD_BYTES:
        raise file_too_large
    audio: bytes | None = None
    filename: str | None = None
    fields: dict[str, list[str]] = defaultdict(list)
    try:
        reader = await request.multipart()
        parts = 0
        while (part := await reader.next()) is not None:
            parts += 1
            if parts > MAX_PARTS or not isinstance(part, BodyPartReader):
                raise InvalidRequestError(
                    f"the form has more than {MAX_PARTS} parts or nested parts", code="invalid_multipart"
                )
            if part.name == FILE_FIELD:
                if audio is not None:
                    raise InvalidParameterError("send exactly one 'file' part", param=FILE_FIELD)
                audio = await _read_part(part, config.max_upload_bytes, file_too_large)
                filename = part.filename
            else:
                name = part.name or ""
                too_long = InvalidParameterError(
                    f"form field {name!r} exceeds {config.max_field_bytes} bytes", param=name
                )
                fields[name].append(_utf8(await _read_part(part, config.max_field_bytes, too_long), name))
    except (ValueError, AssertionError, HttpProcessingError) as exc:  # aiohttp's errors for malformed multipart
        raise InvalidRequestError(f"malformed multipart body: {exc}", code="invalid_multipart") from exc
    if audio is None:
        raise MissingFileError("the form has no 'file' part", param=FILE_FIELD)
    if not audio:
        raise EmptyFileError("the uploaded file is empty", param=FILE_FIELD)
    return UploadedForm(audio=audio, filename=filename, fields=dict(fields))


class AudioDecoder:
    """Decodes uploads to 16 kHz mono PCM on a small thread pool, under the configured limits."""

    def __init__(self, limits: DecodeLimits, workers: int) -> None:
        self._limits = limits
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode")

    def _decode(self, data: bytes) -> np.ndarray:
        pcm = decode_audio(io.BytesIO(data), self._limits)
        return validate_pcm(pcm, max_samples=None)  # NaN/inf samples of float files; length checked above

    async def decode(self, data: bytes) -> np.ndarray:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, self._decode, data)
        except InvalidAudioError as exc:
            raise InvalidAudioFileError.from_runtime(exc) from exc

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
