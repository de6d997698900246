"""Several models, languages and translations through the real gateway (Triton serving tiny.en and base), with
the unmodified `openai` SDK where a client would use it."""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import requests
import tritonclient.http as httpclient
from openai import OpenAI

from devstack.gateway_process import GatewayProcess
from perf.accuracy import error_rate, mixed_error_rate
from perf.datasets import Clip
from tests.audio_files import JFK, MULTILINGUAL, ONE_PER_LANGUAGE
from tests.conftest import BASE
from tests.gateway.http import AUTH, error_code
from tests.gateway_process import TEST_API_KEY, gateway_env
from tests.languages import english_share
from tests.reference import reference_multilingual
from triton_server.launcher import TritonServer
from whisper_runtime.languages import LANGUAGES
from whisper_runtime.repository import DEFAULT_MODEL

CLIPS = MULTILINGUAL


@pytest.fixture(scope="module")
def client(gateway: GatewayProcess) -> OpenAI:
    return OpenAI(base_url=f"{gateway.url}/v1", api_key=TEST_API_KEY, max_retries=0, timeout=120)


@functools.cache
def _transcription(url: str, clip: Clip) -> dict:
    """verbose_json of `clip` through the gateway at `url` by base, language left to be detected (one request each)."""
    sdk = OpenAI(base_url=f"{url}/v1", api_key=TEST_API_KEY, max_retries=0, timeout=120)
    with clip.path.open("rb") as audio:
        result = sdk.audio.transcriptions.create(model=BASE, file=audio, response_format="verbose_json")
    return result.model_dump()


@pytest.mark.parametrize(
    "clips",
    [pytest.param(ONE_PER_LANGUAGE, id="one-per-language"), pytest.param(CLIPS, id="all", marks=pytest.mark.accuracy)],
)
def test_each_clip_is_detected_in_its_own_language(gateway: GatewayProcess, clips: list[Clip]) -> None:
    detected = {clip.id: _transcription(gateway.url, clip)["language"] for clip in clips}
    assert detected == {clip.id: LANGUAGES[clip.language] for clip in clips}


@pytest.fixture(scope="module")
def fp32_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """The gateway serving base in fp32 (its in-process backend: the same decoding code as Triton's models)."""
    env = {
        "DATTAVANI_API_KEYS": TEST_API_KEY,
        "DATTAVANI_BACKENDS": "fallback",
        "DATTAVANI_FALLBACK_PRECISION": "fp32",
        "DATTAVANI_MODELS": BASE,
    }
    process = GatewayProcess(env, tmp_path_factory.mktemp("fp32-gateway") / "gateway.log").start()
    yield process
    process.stop()


@pytest.mark.accuracy  # make test compares base's tokens with CTranslate2's (tests/whisper_runtime/test_engine.py)
def test_the_error_rate_is_within_a_point_of_faster_whisper_on_the_same_weights(fp32_gateway: GatewayProcess) -> None:
    """Pooled over the 20 clips (per-language rates of 5 clips swing by several points either way between two
    decoders: one word in 20 is 5 points); greedy, language detected, fp32 on both sides. Not int8: the int8
    kernels of ONNX Runtime and CTranslate2 differ per CPU, and so does the gap (pooled, ours against
    faster-whisper's: 19.96 against 21.47% on an Intel Xeon with AVX-512 VNNI, 23.16 against 21.09% on an AMD
    EPYC with AVX-512 VNNI; fp32 on the EPYC: 21.47 against 20.90%)."""
    ours: dict[str, list[str]] = defaultdict(list)
    theirs: dict[str, list[str]] = defaultdict(list)
    for clip in CLIPS:
        ours[clip.language].append(_transcription(fp32_gateway.url, clip)["text"])
        text, language = reference_multilingual(clip.path, "float32", BASE)
        assert language == clip.language, clip.id
        theirs[clip.language].append(text)
    references = {code: [clip.reference for clip in CLIPS if clip.language == code] for code in ours}
    for code in ours:
        print(
            f"{code}: gateway {error_rate(references[code], ours[code], code):.1f}%, "
            f"faster-whisper {error_rate(references[code], theirs[code], code):.1f}%"
        )
    pooled = [reference for code in ours for reference in references[code]]
    languages = [code for code in ours for _ in references[code]]
    ours_rate = mixed_error_rate(pooled, [text for code in ours for text in ours[code]], languages)
    theirs_rate = mixed_error_rate(pooled, [text for code in ours for text in theirs[code]], languages)
    print(f"all: gateway {ours_rate:.2f}%, faster-whisper {theirs_rate:.2f}%")
    assert ours_rate <= theirs_rate + 1.0


@pytest.mark.parametrize("clip", ONE_PER_LANGUAGE, ids=lambda clip: clip.language)
def test_translations_come_back_in_english(client: OpenAI, gateway: GatewayProcess, clip: Clip) -> None:
    with clip.path.open("rb") as audio:
        translation = client.audio.translations.create(model=BASE, file=audio)
    transcript = _transcription(gateway.url, clip)["text"]
    assert english_share(translation.text) >= 0.15, translation.text
    assert english_share(transcript) < 0.05, transcript  # the same words in the spoken language are not English


@pytest.mark.parametrize("response_format", ["text", "srt", "vtt", "verbose_json"])
def test_translations_answer_in_every_format(client: OpenAI, response_format: str) -> None:
    clip = ONE_PER_LANGUAGE[0]
    with clip.path.open("rb") as audio:
        result = client.audio.translations.create(model=BASE, file=audio, response_format=response_format)  # type: ignore[call-overload]
    if response_format == "verbose_json":
        assert (result.task, result.language) == ("translate", "german")  # type: ignore[union-attr]
        assert result.segments and english_share(result.text) >= 0.15  # type: ignore[union-attr]
    else:
        assert english_share(str(result)) >= 0.1, result


def test_a_given_language_by_code_or_name_is_kept_and_reported(gateway: GatewayProcess) -> None:
    clip = ONE_PER_LANGUAGE[1]  # Spanish
    for given in ("es", "Spanish"):
        response = _post(gateway, "transcriptions", clip.path.read_bytes(), model=BASE, language=given,
                         response_format="verbose_json")  # fmt: skip
        assert response.status_code == 200, response.text
        assert response.headers["X-Spoken-Language"] == "es"
        assert response.json()["language"] == "spanish"


def test_the_detected_language_is_in_a_header_on_plain_and_streamed_answers(gateway: GatewayProcess) -> None:
    clip = ONE_PER_LANGUAGE[2]  # French
    plain = _post(gateway, "transcriptions", clip.path.read_bytes(), model=BASE)
    assert (plain.status_code, plain.headers["X-Spoken-Language"]) == (200, "fr")
    streamed = _post(gateway, "translations", clip.path.read_bytes(), model=BASE, stream="true")
    assert streamed.status_code == 200 and streamed.headers["X-Spoken-Language"] == "fr"
    events = [json.loads(line[len("data: ") :]) for line in streamed.text.split("\n\n") if line]
    assert events[-1]["type"] == "transcript.text.done" and english_share(events[-1]["text"]) >= 0.1


def _post(gateway: GatewayProcess, route: str, audio: bytes, **fields: str) -> requests.Response:
    return requests.post(
        f"{gateway.url}/v1/audio/{route}", files={"file": ("clip.ogg", audio)}, data=fields, headers=AUTH, timeout=120
    )


@pytest.mark.parametrize(
    ("route", "fields", "status", "code"),
    [
        ("translations", {"model": DEFAULT_MODEL}, 400, "translation_not_supported"),
        ("translations", {"model": "whisper-1"}, 400, "translation_not_supported"),  # the default's alias
        ("transcriptions", {"model": DEFAULT_MODEL, "language": "de"}, 400, "unsupported_language"),
        ("transcriptions", {"model": BASE, "language": "klingon"}, 400, "invalid_language"),
        ("translations", {"model": BASE, "language": "xx"}, 400, "invalid_language"),
        ("translations", {"model": "whisper-large"}, 404, "model_not_found"),
    ],
)
def test_what_a_model_cannot_do_is_a_clear_error(
    gateway: GatewayProcess, route: str, fields: dict[str, str], status: int, code: str
) -> None:
    response = _post(gateway, route, JFK.read_bytes(), **fields)
    assert (response.status_code, error_code(response)) == (status, code), response.text
    assert response.json()["error"]["param"] in ("model", "language")


def test_the_sdk_raises_the_documented_error_for_a_translation_by_tiny_en(client: OpenAI) -> None:
    with JFK.open("rb") as audio, pytest.raises(openai.BadRequestError) as raised:
        client.audio.translations.create(model=DEFAULT_MODEL, file=audio)
    assert raised.value.code == "translation_not_supported"


def test_models_lists_each_model_with_what_it_can_do(gateway: GatewayProcess) -> None:
    models = {
        entry["id"]: entry
        for entry in requests.get(f"{gateway.url}/v1/models", headers=AUTH, timeout=10).json()["data"]
    }
    assert set(models) == {DEFAULT_MODEL, BASE, "whisper-1"}
    base, tiny, alias = models[BASE], models[DEFAULT_MODEL], models["whisper-1"]
    assert (base["translation"], base["language_detection"], len(base["languages"]), base["default"]) == (
        True, True, 99, False,
    )  # fmt: skip
    assert (tiny["translation"], tiny["languages"], tiny["default"]) == (False, ["en"], True)
    assert (alias["model"], alias["default"]) == (DEFAULT_MODEL, True)
    assert all(entry["precisions"] == {"triton": ["int8"], "fallback": ["int8"]} for entry in models.values())


@pytest.fixture(scope="module")
def fallback_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway serving base with only the in-process CPU fallback."""
    env = {"DATTAVANI_API_KEYS": TEST_API_KEY, "DATTAVANI_BACKENDS": "fallback", "DATTAVANI_MODELS": BASE,
           "DATTAVANI_DEFAULT_MODEL": BASE}  # fmt: skip
    process = GatewayProcess(env, tmp_path_factory.mktemp("fallback-base") / "gateway.log").start()
    yield process
    process.stop()


def test_the_fallback_gives_base_the_same_segments_as_triton(
    gateway: GatewayProcess, fallback_gateway: GatewayProcess
) -> None:
    for clip in ONE_PER_LANGUAGE:
        response = _post(fallback_gateway, "transcriptions", clip.path.read_bytes(), model=BASE,
                         response_format="verbose_json")  # fmt: skip
        assert response.headers["X-Served-By"] == "fallback"
        via_fallback, via_triton = response.json(), _transcription(gateway.url, clip)
        assert via_fallback["language"] == via_triton["language"]
        assert [(s["start"], s["end"], s["text"], s["tokens"]) for s in via_fallback["segments"]] == [
            (s["start"], s["end"], s["text"], s["tokens"]) for s in via_triton["segments"]
        ], clip.id


@pytest.fixture
def triton_only_gateway(triton: TritonServer, tmp_path: Path) -> Iterator[GatewayProcess]:
    """A gateway in front of the session's Triton with no fallback: what Triton cannot serve fails."""
    process = GatewayProcess(gateway_env(triton, DATTAVANI_BACKENDS="triton"), tmp_path / "gateway.log").start()
    yield process
    process.stop()


def test_a_model_not_loaded_in_triton_is_a_503_naming_it_and_the_other_model_still_serves(
    triton: TritonServer, triton_only_gateway: GatewayProcess
) -> None:
    with httpclient.InferenceServerClient(triton.settings.http_url) as control:
        control.unload_model(BASE)
        try:
            refused = _post(triton_only_gateway, "transcriptions", JFK.read_bytes(), model=BASE)
            served = _post(triton_only_gateway, "transcriptions", JFK.read_bytes(), model=DEFAULT_MODEL)
            ready = requests.get(f"{triton_only_gateway.url}/health/ready", headers=AUTH, timeout=30)
        finally:
            control.load_model(BASE)
    assert (refused.status_code, error_code(refused)) == (503, "model_not_loaded"), refused.text
    assert BASE in refused.json()["error"]["message"]
    assert served.status_code == 200 and served.headers["X-Served-By"] == "triton"
    assert (ready.status_code, ready.json()["status"]) == (200, "degraded")
    assert ready.json()["models"][BASE]["status"] == "down" and ready.json()["models"][DEFAULT_MODEL]["status"] == "ok"
