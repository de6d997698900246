"""Every kind of bad upload gets its documented 4xx and code, while other requests keep being served."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests

from devstack.gateway_process import GatewayProcess
from fuzzing.synthesis import WAVE_UNKNOWN_CODEC, encode, encode_format, mp3_declaring, wav
from tests.audio_files import JFK, JFK_TEXT, normalize
from tests.gateway.http import AUTH, error_code, post_audio
from tests.gateway_process import TEST_API_KEY
from whisper_runtime.audio import SAMPLE_RATE


def _bad_uploads(jfk_pcm: np.ndarray) -> dict[str, tuple[bytes, int, str]]:
    flac = encode_format(jfk_pcm, "flac")
    mp3 = encode_format(jfk_pcm, "mp3")
    float_wav_with_nan = encode(np.where(np.arange(jfk_pcm.size) % 100 == 0, np.nan, jfk_pcm), "wav", "pcm_f32le")
    return {
        "empty file": (b"", 400, "empty_file"),
        "not audio": (b"%PDF-1.7 this is a document, not audio" * 50, 400, "not_audio"),
        "random bytes": (np.random.default_rng(7).bytes(50_000), 400, "not_audio"),
        "corrupt flac": (flac[: len(flac) // 2], 400, "corrupt_audio"),
        "truncated mp3": (mp3[: len(mp3) // 2], 400, "truncated_audio"),
        "unsupported codec": (wav(bytes(2 * SAMPLE_RATE), format_tag=WAVE_UNKNOWN_CODEC), 400, "unsupported_codec"),
        "NaN samples": (float_wav_with_nan, 400, "non_finite_audio"),
        "over-duration (declared)": (encode(np.tile(jfk_pcm, 3), "mp3", "libmp3lame"), 400, "audio_too_long"),
        "over-duration (decoded)": (mp3_declaring(np.tile(jfk_pcm, 4), 0.25), 400, "audio_too_long"),
        "over-size": (b"\0" * (4 * 1024 * 1024 + 1), 413, "file_too_large"),
    }


BAD_NAMES = list(_bad_uploads(np.zeros(16000, dtype=np.float32)))


@pytest.mark.parametrize("case", BAD_NAMES)
def test_bad_upload_gets_its_status_and_code(gateway: GatewayProcess, jfk_pcm: np.ndarray, case: str) -> None:
    audio, status, code = _bad_uploads(jfk_pcm)[case]
    response = post_audio(gateway, audio)
    assert response.status_code == status, response.text
    assert error_code(response) == code


def test_bad_uploads_do_not_disturb_good_requests(gateway: GatewayProcess, jfk_pcm: np.ndarray) -> None:
    bad = [audio for audio, _, _ in _bad_uploads(jfk_pcm).values()]
    good = JFK.read_bytes()
    uploads = [good if i % 3 == 0 else bad[i % len(bad)] for i in range(18)]
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda audio: post_audio(gateway, audio), uploads))
    for audio, response in zip(uploads, responses, strict=True):
        if audio is good:
            assert response.status_code == 200
            assert normalize(response.json()["text"]) == normalize(JFK_TEXT)
        else:
            assert 400 <= response.status_code < 500


def test_an_oversized_upload_is_refused_before_its_body_is_sent(gateway: GatewayProcess) -> None:
    """The client announces 100 MB and sends none of it: the 413 comes from the headers alone."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as connection:
        connection.sendall(
            (
                "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: test\r\n"
                f"Authorization: Bearer {TEST_API_KEY}\r\n"
                "Content-Type: multipart/form-data; boundary=xyz\r\n"
                f"Content-Length: {100 * 1024 * 1024}\r\n\r\n"
            ).encode()
        )
        head = connection.recv(4096).decode(errors="replace")
    assert head.startswith("HTTP/1.1 413"), head
    assert '"file_too_large"' in head


PARAMETER_ERRORS = [
    ({"response_format": "xml"}, 400, "invalid_parameter", "response_format"),
    ({"temperature": "2"}, 400, "invalid_parameter", "temperature"),
    ({"temperature": "warm"}, 400, "invalid_parameter", "temperature"),
    ({"language": "fr"}, 400, "unsupported_language", "language"),
    ({"temperature": "-0.1"}, 400, "invalid_parameter", "temperature"),
    ({"seed": "-1"}, 400, "invalid_parameter", "seed"),
    ({"seed": "1.5"}, 400, "invalid_parameter", "seed"),
    ({"seed": str(2**31)}, 400, "invalid_parameter", "seed"),
    ({"timestamp_granularities[]": "word"}, 400, "invalid_parameter", None),
    ({"timestamp_granularities[]": "segment"}, 400, "invalid_parameter", None),
    ({"timestamp_granularities[]": "phoneme", "response_format": "verbose_json"}, 400, "invalid_parameter", None),
    ({"stream": "true", "response_format": "srt"}, 400, "unsupported_parameter", "stream"),
    ({"stream": "maybe"}, 400, "invalid_parameter", "stream"),
    ({"model": "whisper-large-v3"}, 404, "model_not_found", "model"),
    ({"prompt": "x" * 5000}, 400, "invalid_parameter", "prompt"),
]


@pytest.mark.parametrize(("fields", "status", "code", "param"), PARAMETER_ERRORS)
def test_bad_parameters_are_refused_with_the_parameter_named(
    gateway: GatewayProcess, fields: dict[str, str], status: int, code: str, param: str | None
) -> None:
    response = post_audio(gateway, JFK.read_bytes(), fields=fields)
    assert response.status_code == status, response.text
    assert error_code(response) == code
    assert response.json()["error"]["param"] == (param or "timestamp_granularities[]")


def test_supported_extras_are_accepted(gateway: GatewayProcess) -> None:
    fields = {"language": "en", "prompt": "JFK's inaugural address", "temperature": "0.2", "unknown_field": "x"}
    response = post_audio(gateway, JFK.read_bytes(), fields=fields)
    assert response.status_code == 200
    assert normalize(response.json()["text"]) == normalize(JFK_TEXT)


def test_a_form_without_a_file_part(gateway: GatewayProcess) -> None:
    response = requests.post(
        f"{gateway.url}/v1/audio/transcriptions", files={"model": (None, "whisper-1")}, headers=AUTH, timeout=30
    )
    assert response.status_code == 400
    assert error_code(response) == "missing_file"


def test_two_file_parts_are_refused(gateway: GatewayProcess) -> None:
    response = requests.post(
        f"{gateway.url}/v1/audio/transcriptions",
        files=[("file", ("a.flac", JFK.read_bytes())), ("file", ("b.flac", JFK.read_bytes()))],
        headers=AUTH,
        timeout=30,
    )
    assert response.status_code == 400
    assert error_code(response) == "invalid_parameter"


def test_a_body_that_is_not_multipart_gets_415(gateway: GatewayProcess) -> None:
    response = requests.post(
        f"{gateway.url}/v1/audio/transcriptions",
        data=JFK.read_bytes(),
        headers={**AUTH, "Content-Type": "audio/flac"},
        timeout=30,
    )
    assert response.status_code == 415
    assert error_code(response) == "unsupported_media_type"


def test_a_malformed_multipart_body_gets_400(gateway: GatewayProcess) -> None:
    response = requests.post(
        f"{gateway.url}/v1/audio/transcriptions",
        data=b"--nope\r\nthis is not a part\r\n",
        headers={**AUTH, "Content-Type": "multipart/form-data; boundary=xyz"},
        timeout=30,
    )
    assert response.status_code == 400, response.text


def test_unknown_routes_and_methods_get_json_errors(gateway: GatewayProcess) -> None:
    missing = requests.get(f"{gateway.url}/v1/nothing", headers=AUTH, timeout=10)
    assert (missing.status_code, error_code(missing)) == (404, "not_found")
    wrong_method = requests.get(f"{gateway.url}/v1/audio/transcriptions", headers=AUTH, timeout=10)
    assert (wrong_method.status_code, error_code(wrong_method)) == (405, "method_not_allowed")


def test_request_ids_are_echoed_or_made(gateway: GatewayProcess) -> None:
    given = requests.get(f"{gateway.url}/v1/models", headers={**AUTH, "X-Request-ID": "client-42"}, timeout=10)
    assert given.headers["X-Request-ID"] == "client-42"
    unsafe = requests.get(f"{gateway.url}/v1/models", headers={**AUTH, "X-Request-ID": "a b\tc"}, timeout=10)
    assert len(unsafe.headers["X-Request-ID"]) == 32
