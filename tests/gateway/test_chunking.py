"""`chunking_strategy` through the real gateway and Triton: on LibriSpeech utterances each after 60 s of
silence and noise, only the speech is transcribed, every segment points at the speech where it was put,
the WER is no worse than without chunking, every format and the CPU fallback agree; the field's forms
(the official SDK's included) are accepted, and malformed ones get a 400 naming the field."""

from __future__ import annotations

import functools
import itertools
import json
import re
from pathlib import Path
from typing import Any

import jiwer
import pytest
import requests
from openai import OpenAI
from openai.types.audio.transcription_create_params import ChunkingStrategyVadConfig

from devstack.gateway_process import GatewayProcess
from fuzzing.multipart import upload_form
from gateway.app import create_app
from gateway.chunking import AUTO_OPTIONS, MIN_SPEECH_MS, parse_chunking_strategy
from gateway.config import ConfigError, GatewayConfig
from gateway.errors import InvalidParameterError
from perf.accuracy import normalize as normalize_text
from perf.accuracy import word_error_rate
from perf.datasets import load_dataset
from perf.feature_cost import Recording, padded_librispeech, padded_recording
from tests.audio_files import JFK, JFK_TEXT, normalize
from tests.gateway.http import AUTH
from tests.gateway_process import TEST_API_KEY
from tests.subtitles import parse_subtitles
from whisper_runtime.vad import VadOptions

RECORDING = padded_librispeech()
PADDING_S = AUTO_OPTIONS.speech_pad_ms / 1000 + 0.05  # a span reaches this far beyond its speech
SERVER_VAD: ChunkingStrategyVadConfig = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
}


@functools.cache
def _post(url: str, recording: Recording, fields: tuple[tuple[str, str], ...], route: str = "transcriptions") -> Any:
    """One request per (gateway, recording, fields) for the whole module."""
    response = requests.post(
        f"{url}/v1/audio/{route}",
        files={"file": ("recording.wav", recording.wav)},
        data=dict(fields),
        headers=AUTH,
        timeout=300,
    )
    assert response.status_code == 200, response.text
    return response.json() if response.headers["Content-Type"].startswith("application/json") else response.text


def _verbose(gateway: GatewayProcess, chunking: str | None = "auto", recording: Recording = RECORDING) -> Any:
    fields = (("response_format", "verbose_json"),) + ((("chunking_strategy", chunking),) if chunking else ())
    return _post(gateway.url, recording, fields)


def _clip_of(seconds: float, recording: Recording = RECORDING) -> int | None:
    """The index of the clip whose (padded) stretch of the recording holds `seconds`, if any."""
    for index, (start, end) in enumerate(recording.speech):
        if start - PADDING_S <= seconds <= end + PADDING_S:
            return index
    return None


def test_every_segment_points_at_the_speech_where_it_was_put(long_gateway: GatewayProcess) -> None:
    body = _verbose(long_gateway)
    segments = body["segments"]
    assert body["duration"] == pytest.approx(RECORDING.seconds, abs=0.05)  # the recording's, not the speech's
    assert [s["id"] for s in segments] == list(range(len(segments)))
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(segments)), "overlap or disorder"
    assert body["text"] == " ".join(s["text"] for s in segments)
    for segment in segments:  # no text in the minute of silence and noise before each clip
        start, end = _clip_of(segment["start"]), _clip_of(segment["end"])
        assert start is not None and end is not None, segment
        assert 0 <= segment["seek"] / 100 <= segment["start"]
    # Each clip's words are in the segments that start or end on it (Whisper may run one segment across the
    # seam of two spans: it starts on one clip and ends on the next).
    for index, reference in enumerate(_references()):
        text = " ".join(s["text"] for s in segments if index in (_clip_of(s["start"]), _clip_of(s["end"])))
        found = jiwer.process_words(normalize_text(reference), normalize_text(text))
        assert found.hits >= 0.85 * len(normalize_text(reference).split()), (index, text)
    assert RECORDING.speech[0][0] - PADDING_S <= segments[0]["start"] <= RECORDING.speech[0][0] + 1.0


def _references() -> list[str]:
    by_id = {clip.id: clip.reference for clip in load_dataset("librispeech")}
    return [by_id[name] for name in RECORDING.name.split(" ", 1)[0].split("+")]


def test_word_error_rate_is_no_worse_than_without_chunking(long_gateway: GatewayProcess) -> None:
    chunked, whole = _verbose(long_gateway)["text"], _verbose(long_gateway, None)["text"]
    ours, theirs = (word_error_rate([RECORDING.reference], [text]) for text in (chunked, whole))
    print(f"padded recording: WER with chunking_strategy=auto {ours:.2f}%, without {theirs:.2f}%")
    assert ours <= theirs


def test_json_text_subtitles_and_the_stream_carry_the_chunked_transcript(long_gateway: GatewayProcess) -> None:
    verbose = _verbose(long_gateway)
    chunked = (("chunking_strategy", "auto"),)
    assert _post(long_gateway.url, RECORDING, (*chunked, ("response_format", "json")))["text"] == verbose["text"]
    assert _post(long_gateway.url, RECORDING, (*chunked, ("response_format", "text"))) == verbose["text"] + "\n"
    for response_format in ("srt", "vtt"):
        cues = parse_subtitles(
            _post(long_gateway.url, RECORDING, (*chunked, ("response_format", response_format))), response_format
        )
        assert [(c.start, c.end, c.text) for c in cues] == [
            (pytest.approx(s["start"], abs=0.0011), pytest.approx(s["end"], abs=0.0011), s["text"])
            for s in verbose["segments"]
        ]
    streamed = requests.post(
        f"{long_gateway.url}/v1/audio/transcriptions",
        files={"file": ("recording.wav", RECORDING.wav)},
        data={"chunking_strategy": "auto", "stream": "true"},
        headers=AUTH,
        timeout=300,
    )
    events = [json.loads(line) for line in re.findall(r"^data: (.*)$", streamed.text, re.M)]
    assert events[-1] == {"type": "transcript.text.done", "text": verbose["text"]}


def test_word_times_point_at_the_speech_too(long_gateway: GatewayProcess) -> None:
    fields = (("response_format", "verbose_json"), ("timestamp_granularities[]", "word"), ("chunking_strategy", "auto"))
    words = _post(long_gateway.url, RECORDING, fields)["words"]
    assert len(words) >= 0.9 * len(RECORDING.reference.split())
    assert all(_clip_of(w["start"]) is not None and _clip_of(w["end"]) is not None for w in words), words
    assert all(w["start"] <= w["end"] for w in words)
    assert all(a["start"] <= b["start"] for a, b in itertools.pairwise(words))
    assert {_clip_of(w["start"]) for w in words} == set(range(len(RECORDING.speech)))


def test_the_fallback_gives_the_same_segments_as_triton(
    long_gateway: GatewayProcess, fallback_gateway: GatewayProcess
) -> None:
    def essentials(body: dict[str, Any]) -> list[tuple[float, float, int, str]]:
        return [(s["start"], s["end"], s["seek"], s["text"]) for s in body["segments"]]

    assert essentials(_verbose(fallback_gateway)) == essentials(_verbose(long_gateway))


def test_the_sdks_server_vad_object_is_accepted_and_equals_its_json_form(long_gateway: GatewayProcess) -> None:
    client = OpenAI(base_url=f"{long_gateway.url}/v1", api_key=TEST_API_KEY, max_retries=0, timeout=300)
    via_sdk = client.audio.transcriptions.create(
        model="whisper-1",
        file=("recording.wav", RECORDING.wav),
        response_format="verbose_json",
        chunking_strategy=SERVER_VAD,  # sent flattened: chunking_strategy[type], chunking_strategy[threshold], ...
    )
    as_json = _verbose(long_gateway, json.dumps(SERVER_VAD))
    assert via_sdk.text == as_json["text"]
    assert [(s.start, s.end) for s in via_sdk.segments or []] == [(s["start"], s["end"]) for s in as_json["segments"]]
    assert all(_clip_of(s["start"]) is not None for s in as_json["segments"])


def test_short_speech_is_unchanged_by_auto(gateway: GatewayProcess) -> None:
    client = OpenAI(base_url=f"{gateway.url}/v1", api_key=TEST_API_KEY, max_retries=0, timeout=120)
    with JFK.open("rb") as audio:
        text = client.audio.transcriptions.create(model="whisper-1", file=audio, chunking_strategy="auto").text
    assert normalize(text) == normalize(JFK_TEXT)


def test_a_translation_is_chunked_too(long_gateway: GatewayProcess) -> None:
    german = next(clip for clip in load_dataset("multilingual") if clip.language == "de")
    recording = padded_recording([german], gap_s=20.0)
    body = _post(
        long_gateway.url,
        recording,
        (("model", "whisper-base"), ("response_format", "verbose_json"), ("chunking_strategy", "auto")),
        route="translations",
    )
    assert body["task"] == "translate" and body["language"] == "german" and body["text"]
    assert all(_clip_of(s["start"], recording) is not None for s in body["segments"]), body["segments"]


def test_speech_kept_and_dropped_are_counted(long_gateway: GatewayProcess) -> None:
    _verbose(long_gateway)
    metrics = requests.get(f"{long_gateway.url}/metrics", headers=AUTH, timeout=10).text
    seconds = {
        part: float(value)
        for part, value in re.findall(
            r'^dattavani_vad_audio_seconds_total\{[^}]*part="(\w+)"[^}]*\} (\S+)$', metrics, re.M
        )
    }
    assert 0 < seconds["speech"] < seconds["dropped"]


# The field's forms, parsed (no gateway needed).


def test_auto_and_the_object_forms_give_their_options() -> None:
    assert parse_chunking_strategy({}) is None
    assert parse_chunking_strategy({"chunking_strategy": [""]}) is None
    assert parse_chunking_strategy({"chunking_strategy": ["auto"]}) == AUTO_OPTIONS
    assert parse_chunking_strategy({"chunking_strategy": ['"auto"']}) == AUTO_OPTIONS
    defaults = VadOptions(threshold=0.5, min_speech_ms=MIN_SPEECH_MS, min_silence_ms=500, speech_pad_ms=300)
    assert parse_chunking_strategy({"chunking_strategy": ['{"type": "server_vad"}']}) == defaults
    asked = VadOptions(threshold=0.25, min_speech_ms=MIN_SPEECH_MS, min_silence_ms=800, speech_pad_ms=100)
    as_json = '{"type": "server_vad", "threshold": 0.25, "prefix_padding_ms": 100, "silence_duration_ms": 800}'
    assert parse_chunking_strategy({"chunking_strategy": [as_json]}) == asked
    flattened = {
        "chunking_strategy[type]": ["server_vad"],
        "chunking_strategy[threshold]": ["0.25"],
        "chunking_strategy[prefix_padding_ms]": ["100"],
        "chunking_strategy[silence_duration_ms]": ["800"],
    }
    assert parse_chunking_strategy(flattened) == asked


BAD_FORMS = [
    ([("chunking_strategy", "manual")], "chunking_strategy"),
    ([("chunking_strategy", '{"type": "server_vad"')], "chunking_strategy"),
    ([("chunking_strategy", "null")], "chunking_strategy"),
    ([("chunking_strategy", "[]")], "chunking_strategy"),
    ([("chunking_strategy", '{"type": "semantic_vad"}')], "chunking_strategy"),
    ([("chunking_strategy", '{"threshold": 0.5}')], "chunking_strategy"),
    ([("chunking_strategy", '{"type": "server_vad", "threshold": 1.5}')], "chunking_strategy"),
    ([("chunking_strategy", '{"type": "server_vad", "threshold": "high"}')], "chunking_strategy"),
    ([("chunking_strategy", '{"type": "server_vad", "threshold": NaN}')], "chunking_strategy"),
    ([("chunking_strategy", '{"type": "server_vad", "prefix_padding_ms": -1}')], "chunking_strategy"),
    ([("chunking_strategy", '{"type": "server_vad", "silence_duration_ms": 2.5}')], "chunking_strategy"),
    ([("chunking_strategy", '{"type": "server_vad", "silence_duration_ms": true}')], "chunking_strategy"),
    ([("chunking_strategy", '{"type": "server_vad", "silence_duration_ms": 60001}')], "chunking_strategy"),
    ([("chunking_strategy", '{"type": "server_vad", "eagerness": "low"}')], "chunking_strategy"),
    ([("chunking_strategy", "auto"), ("chunking_strategy", "auto")], "chunking_strategy"),
    (
        [("chunking_strategy[type]", "server_vad"), ("chunking_strategy[threshold]", "2")],
        "chunking_strategy[threshold]",
    ),
    (
        [("chunking_strategy[type]", "server_vad"), ("chunking_strategy[threshold]", "x")],
        "chunking_strategy[threshold]",
    ),
    ([("chunking_strategy[type]", "semantic_vad")], "chunking_strategy[type]"),
    ([("chunking_strategy[type]", "server_vad"), ("chunking_strategy[foo]", "1")], "chunking_strategy[foo]"),
    (
        [("chunking_strategy[type]", "server_vad"), ("chunking_strategy[prefix_padding_ms]", "1e3")],
        "chunking_strategy[prefix_padding_ms]",
    ),
    ([("chunking_strategy[threshold]", "0.5")], "chunking_strategy[threshold]"),  # no type: blame a field sent
    ([("chunking_strategy", "auto"), ("chunking_strategy[type]", "server_vad")], "chunking_strategy"),
]


@pytest.mark.parametrize(("form", "param"), BAD_FORMS, ids=[str(i) for i in range(len(BAD_FORMS))])
def test_a_malformed_chunking_strategy_is_a_400_naming_the_field(form: list[tuple[str, str]], param: str) -> None:
    fields: dict[str, list[str]] = {}
    for name, value in form:
        fields.setdefault(name, []).append(value)
    with pytest.raises(InvalidParameterError) as error:
        parse_chunking_strategy(fields)
    assert error.value.param == param and error.value.message.startswith("chunking_strategy")


@pytest.mark.parametrize("route", ["transcriptions", "translations"])
def test_the_gateway_answers_a_malformed_chunking_strategy_with_its_json_error(
    gateway: GatewayProcess, route: str
) -> None:
    body, content_type = upload_form(
        JFK.read_bytes(),
        JFK.name,
        [("model", "whisper-base"), ("chunking_strategy", '{"type": "server_vad", "threshold": 2}')],
    )
    response = requests.post(
        f"{gateway.url}/v1/audio/{route}", data=body, headers={**AUTH, "Content-Type": content_type}, timeout=60
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "invalid_parameter",
        "chunking_strategy",
    )
    assert "threshold" in error["message"]


def test_a_gateway_without_the_vad_model_refuses_to_start(repository: Path, tmp_path: Path) -> None:
    (tmp_path / "whisper-tiny.en").symlink_to(repository / "whisper-tiny.en")
    config = GatewayConfig(auth_disabled=True, model_repository=tmp_path, models=("whisper-tiny.en",))
    with pytest.raises(ConfigError, match=r"the VAD model \(chunking_strategy\) cannot be read: .*\(make export\)"):
        create_app(config)
