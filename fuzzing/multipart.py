"""multipart/form-data bodies built byte by byte, so fuzzers and tests can send what no polite client would.

HTTP clients refuse control characters in filenames and always write well-formed parts; these
helpers write exactly the names, filenames, headers and boundaries they are given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

BOUNDARY = "dattavani-fuzz-6f1c2b"


@dataclass(frozen=True)
class Part:
    """One part: a form field (`filename` None) or a file. Text is written as UTF-8, bytes as they are."""

    name: str | bytes | None
    content: bytes | str
    filename: str | bytes | None = None
    content_type: str | None = None
    extra_headers: tuple[bytes, ...] = ()


def _header_value(value: str | bytes) -> bytes:
    raw = value.encode("utf-8", errors="surrogatepass") if isinstance(value, str) else value
    return raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"')  # quoted-string escapes; CR/LF stay raw on purpose


def encode_part(part: Part) -> bytes:
    disposition = b"form-data"
    if part.name is not None:
        disposition += b'; name="' + _header_value(part.name) + b'"'
    if part.filename is not None:
        disposition += b'; filename="' + _header_value(part.filename) + b'"'
    headers = [b"Content-Disposition: " + disposition]
    if part.content_type is not None:
        headers.append(b"Content-Type: " + part.content_type.encode("latin-1"))
    headers.extend(part.extra_headers)
    content = part.content.encode("utf-8", errors="surrogatepass") if isinstance(part.content, str) else part.content
    return b"\r\n".join(headers) + b"\r\n\r\n" + content


def encode_form(parts: Iterable[Part], boundary: str = BOUNDARY) -> tuple[bytes, str]:
    """The body and its Content-Type for `parts`; the boundary is lengthened if some content holds it."""
    encoded = [encode_part(part) for part in parts]
    while any(boundary.encode() in chunk for chunk in encoded):
        boundary += "x"
    delimiter = b"--" + boundary.encode()
    body = b"".join(delimiter + b"\r\n" + chunk + b"\r\n" for chunk in encoded) + delimiter + b"--\r\n"
    return body, f"multipart/form-data; boundary={boundary}"


def upload_form(
    audio: bytes, filename: str | bytes | None = "audio.bin", fields: Iterable[tuple[str | bytes, str | bytes]] = ()
) -> tuple[bytes, str]:
    """A transcription form: the text `fields` (repeats allowed, in order), then the file part."""
    parts = [Part(name, value) for name, value in fields]
    parts.append(Part("file", audio, filename=filename, content_type="application/octet-stream"))
    return encode_form(parts)
