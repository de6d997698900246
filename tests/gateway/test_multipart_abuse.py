"""Abusive multipart uploads: each gets a documented 4xx with a JSON error code, and good requests go on succeeding.

Bodies are written byte by byte (fuzzing.multipart) so they can be as broken as a hostile client
makes them. Slow bodies (slowloris) run against a gateway of their own with a 2 s upload timeout.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from devstack.gateway_process import GatewayProcess
from fuzzing.multipart import Part, encode_form, upload_form
from fuzzing.runner import documented_errors
from tests.audio_files import JFK, JFK_TEXT, normalize
from tests.gateway.http import AUTH, post_audio
from tests.gateway_process import TEST_API_KEY, gateway_env
from triton_server.launcher import TritonServer

TRANSCRIPTIONS = "/v1/audio/transcriptions"
DOCUMENTED = documented_errors()
AUDIO = b"RIFF" + b"\0" * 64  # never decoded: every case fails before or at decoding
FORM = "multipart/form-data; boundary=B"


def _raw(*parts: bytes, boundary: bytes = b"B", closing: bool = True) -> bytes:
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    return body + (b"--" + boundary + b"--\r\n" if closing else b"")


FILE_PART = b'Content-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n' + AUDIO


def _form(*parts: Part) -> tuple[bytes, str]:
    return encode_form(parts)


# (id, body, content type, status, code, param) -- param None: not checked.
ABUSES = [
    pytest.param(*_form(Part("model", "whisper-1")), 400, "missing_file", "file", id="no file part"),
    pytest.param(
        *_form(Part("file", AUDIO, "a.wav"), Part("file", AUDIO, "b.wav")), 400, "invalid_parameter", "file",
        id="two file parts",
    ),
    pytest.param(*_form(Part("file", "just some text")), 400, "not_audio", "file", id="a file field with no file"),
    pytest.param(*_form(Part("file", b"", "a.wav")), 400, "empty_file", "file", id="an empty file"),
    pytest.param(*upload_form(AUDIO, fields=[("prompt", "x" * 5000)]), 400, "invalid_parameter", "prompt",
                 id="a field over 4096 bytes"),
    pytest.param(*upload_form(AUDIO, fields=[("prompt", "x" * 3_000_000)]), 400, "invalid_parameter", "prompt",
                 id="a 3 MB field"),
    pytest.param(*upload_form(AUDIO, fields=[("my_field", "é" * 3000)]), 400, "invalid_parameter", "my_field",
                 id="an unknown field over 4096 bytes"),
    pytest.param(*upload_form(AUDIO, fields=[("model", b"\xff\xfe")]), 400, "invalid_parameter", "model",
                 id="a field that is not UTF-8"),
    pytest.param(b'{"file": "UklGRg=="}', "application/json", 415, "unsupported_media_type", None, id="json"),
    pytest.param(b"hello", "text/plain", 415, "unsupported_media_type", None, id="text/plain"),
    pytest.param(b"file=abc", "application/x-www-form-urlencoded", 415, "unsupported_media_type", None,
                 id="urlencoded"),
    pytest.param(_raw(FILE_PART), "multipart/mixed; boundary=B", 415, "unsupported_media_type", None,
                 id="multipart/mixed"),
    pytest.param(JFK.read_bytes(), None, 415, "unsupported_media_type", None, id="no content type"),
    pytest.param(_raw(FILE_PART), "multipart/form-data", 400, "invalid_multipart", None, id="no boundary"),
    pytest.param(_raw(FILE_PART, boundary=b"C"), FORM, 400, "invalid_multipart", None, id="another boundary"),
    pytest.param(_raw(FILE_PART, closing=False), FORM, 400, "invalid_multipart", None, id="no closing boundary"),
    pytest.param(_raw(FILE_PART).replace(b"\r\n", b"\n"), FORM, 400, "invalid_multipart", None, id="LF line ends"),
    pytest.param(_raw(FILE_PART, boundary=b"B" * 200), "multipart/form-data; boundary=" + "B" * 200, 400,
                 "invalid_multipart", None, id="a 200-byte boundary"),
    pytest.param(b"", FORM, 400, "invalid_multipart", None, id="an empty body"),
    pytest.param(_raw(b"Content-Type: text/plain\r\n\r\nabc", b"X-Custom: b\r\n\r\nx"), FORM, 400,
                 "missing_file", "file", id="parts without Content-Disposition"),
    pytest.param(_raw(b"this line is no header\r\n\r\nabc", FILE_PART), FORM, 400, "invalid_multipart", None,
                 id="a part header without a colon"),
    pytest.param(*_form(Part("file", AUDIO, "a" * 10_000 + ".wav")), 400, "invalid_multipart", None,
                 id="a part header over 8190 bytes"),
    pytest.param(*_form(Part("file", AUDIO, "new\r\nline.wav")), 400, "invalid_multipart", None,
                 id="CR LF in a filename"),
    pytest.param(*_form(Part("file", AUDIO, "nul\0.wav")), 400, "invalid_multipart", None, id="NUL in a filename"),
    pytest.param(*_form(*(Part(f"f{i}", "x") for i in range(65)), Part("file", AUDIO, "a.wav")), 400,
                 "invalid_multipart", None, id="65 parts"),
    pytest.param(_raw(b"Content-Disposition: form-data; name=\"x\"\r\nContent-Type: multipart/mixed; boundary=I\r\n\r\n"
                      + _raw(FILE_PART, boundary=b"I")), FORM, 400, "invalid_multipart", None,
                 id="a nested multipart part"),
]  # fmt: skip


def _post(gateway: GatewayProcess, body: bytes, content_type: str | None) -> requests.Response:
    headers = {**AUTH, **({"Content-Type": content_type} if content_type else {})}
    return requests.post(gateway.url + TRANSCRIPTIONS, data=body, headers=headers, timeout=60)


def _assert_documented_error(response: requests.Response, status: int, code: str | None, param: str | None) -> None:
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    assert isinstance(error["message"], str) and isinstance(error["code"], str), error
    assert (response.status_code, error["code"]) in DOCUMENTED, error
    if code is not None:
        assert error["code"] == code, error
    if param is not None:
        assert error["param"] == param, error


@pytest.mark.parametrize(("body", "content_type", "status", "code", "param"), ABUSES)
def test_an_abusive_upload_gets_a_documented_4xx(
    gateway: GatewayProcess, body: bytes, content_type: str | None, status: int, code: str | None, param: str | None
) -> None:
    _assert_documented_error(_post(gateway, body, content_type), status, code, param)


def _assert_good(response: requests.Response) -> None:
    assert response.status_code == 200, response.text[:500]
    assert normalize(response.json()["text"]) == normalize(JFK_TEXT)


def test_good_requests_succeed_while_abusive_ones_run(gateway: GatewayProcess) -> None:
    """Every abuse at once, 8 at a time, with good requests among them: the good ones still get their text."""
    abuses = [(param.values[0], param.values[1]) for param in ABUSES]
    good = JFK.read_bytes()
    with ThreadPoolExecutor(8) as pool:
        goods = [pool.submit(post_audio, gateway, good) for _ in range(3)]
        answers = list(pool.map(lambda abuse: _post(gateway, *abuse), abuses))
        for future in goods:
            _assert_good(future.result())
    assert all(400 <= answer.status_code < 600 for answer in answers)


def test_unknown_fields_are_ignored(gateway: GatewayProcess) -> None:
    body, content_type = upload_form(JFK.read_bytes(), "jfk.flac", [("user", "42"), ("x-custom", "y"), ("user", "43")])
    _assert_good(_post(gateway, body, content_type))


def test_a_chunked_upload_over_the_limit_gets_413(gateway: GatewayProcess) -> None:
    """No Content-Length to refuse early: the limit holds as the streamed body passes it."""
    body, content_type = upload_form(b"\0" * (5 * 1024 * 1024))
    chunks = (body[start : start + 65536] for start in range(0, len(body), 65536))
    try:
        response = requests.post(
            gateway.url + TRANSCRIPTIONS, data=chunks, headers={**AUTH, "Content-Type": content_type}, timeout=60
        )
    except requests.ConnectionError:  # the gateway may close the connection while the client still sends
        pytest.skip("the gateway closed the connection before the client read the answer")
    _assert_documented_error(response, 413, "file_too_large", None)


def _transcriptions_counted(gateway: GatewayProcess, status_prefix: str) -> float:
    """Transcription requests the gateway has counted with a status starting with `status_prefix`."""
    metrics = requests.get(gateway.url + "/metrics", headers=AUTH, timeout=30).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("dattavani_requests_total") and TRANSCRIPTIONS in line and f'status="{status_prefix}' in line
    )


def _server_errors(gateway: GatewayProcess) -> float:
    return _transcriptions_counted(gateway, "5")


def test_a_client_hanging_up_mid_upload_is_no_server_error(gateway: GatewayProcess) -> None:
    before, hung_up_before = _server_errors(gateway), _transcriptions_counted(gateway, "499")
    body, content_type = upload_form(b"\0" * 100_000, "a.wav")
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as connection:
        connection.sendall(
            f"POST {TRANSCRIPTIONS} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {TEST_API_KEY}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[:5000]
        )
        time.sleep(0.5)
    # Until the gateway has counted the hang-up (a fixed 0.5 s wait could end before a slow host got there).
    deadline = time.monotonic() + 60
    while _transcriptions_counted(gateway, "499") == hung_up_before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _server_errors(gateway) == before


# -- slow bodies ---------------------------------------------------------------------------------------

SLOW_SETTINGS = {
    "DATTAVANI_UPLOAD_TIMEOUT_S": "2",
    "DATTAVANI_MAX_CONCURRENT_REQUESTS": "2",
    "DATTAVANI_MAX_QUEUED_REQUESTS": "1",
    "DATTAVANI_BACKENDS": "triton",
}
# The longest a slow upload may hold a slot on that gateway: its upload timeout, and slack.
SLOW_BUDGET_S = 2 + 3


@pytest.fixture(scope="module")
def short_timeouts_gateway(triton: TritonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    log: Path = tmp_path_factory.mktemp("slow-gateway") / "gateway.log"
    process = GatewayProcess(gateway_env(triton, **SLOW_SETTINGS), log).start()
    yield process
    process.stop()


class SlowUpload(threading.Thread):
    """A client that sends its upload one byte every `interval_s` until answered or `for_s` has passed."""

    def __init__(self, gateway: GatewayProcess, for_s: float, interval_s: float = 0.2) -> None:
        super().__init__(daemon=True)
        body, content_type = upload_form(JFK.read_bytes()[:20_000], "slow.flac")
        self.head = (
            f"POST {TRANSCRIPTIONS} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {TEST_API_KEY}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.body, self.port, self.for_s, self.interval_s = body, gateway.port, for_s, interval_s
        self.answer: bytes | None = None
        self.seconds = 0.0

    def run(self) -> None:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as connection:
            connection.sendall(self.head)
            for sent in range(len(self.body)):
                if time.monotonic() - started > self.for_s:
                    break
                readable, _, _ = select.select([connection], [], [], self.interval_s)
                if readable:
                    self.answer = connection.recv(65536)
                    break
                try:
                    connection.sendall(self.body[sent : sent + 1])
                except OSError:  # the gateway closed the connection: read what it said, if anything
                    self.answer = b""
                    break
        self.seconds = time.monotonic() - started


def test_a_slow_body_does_not_hold_up_other_requests(short_timeouts_gateway: GatewayProcess) -> None:
    slow = SlowUpload(short_timeouts_gateway, for_s=2)
    slow.start()
    time.sleep(0.5)
    _assert_good(post_audio(short_timeouts_gateway, JFK.read_bytes()))
    slow.join()


def test_a_slow_body_is_answered_within_the_configured_timeouts(short_timeouts_gateway: GatewayProcess) -> None:
    slow = SlowUpload(short_timeouts_gateway, for_s=SLOW_BUDGET_S + 2)
    slow.start()
    slow.join()
    assert slow.answer, f"no answer after {slow.seconds:.1f} s (budget {SLOW_BUDGET_S} s)"
    assert slow.seconds <= SLOW_BUDGET_S
    head, _, body = slow.answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert (status, json.loads(body)["error"]["code"]) in DOCUMENTED and 400 <= status < 500, slow.answer[:300]


def test_slow_bodies_filling_every_slot_do_not_lock_others_out(short_timeouts_gateway: GatewayProcess) -> None:
    """2 running + 1 queued slow uploads: a good client that honours Retry-After still gets through in time."""
    slow = [SlowUpload(short_timeouts_gateway, for_s=SLOW_BUDGET_S + 4) for _ in range(3)]
    for upload in slow:
        upload.start()
    time.sleep(0.5)
    deadline = time.monotonic() + SLOW_BUDGET_S + 2
    response = post_audio(short_timeouts_gateway, JFK.read_bytes())
    while response.status_code == 429 and time.monotonic() < deadline:
        time.sleep(float(response.headers.get("Retry-After", "1")))
        response = post_audio(short_timeouts_gateway, JFK.read_bytes())
    for upload in slow:
        upload.join()
    _assert_good(response)
