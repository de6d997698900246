"""The official `openai` SDK, unmodified, transcribes through the gateway in every response format."""

from __future__ import annotations

import json

import pytest
from openai import OpenAI

from devstack.gateway_process import GatewayProcess
from tests.audio_files import JFK, JFK_TEXT, normalize
from tests.gateway_process import TEST_API_KEY
from tests.subtitles import parse_subtitles


@pytest.fixture(scope="module")
def client(gateway: GatewayProcess) -> OpenAI:
    return OpenAI(base_url=f"{gateway.url}/v1", api_key=TEST_API_KEY, max_retries=0, timeout=120)


def test_json(client: OpenAI) -> None:
    with JFK.open("rb") as audio:
        result = client.audio.transcriptions.create(model="whisper-1", file=audio)
    assert normalize(result.text) == normalize(JFK_TEXT)


def test_text(client: OpenAI) -> None:
    with JFK.open("rb") as audio:
        result = client.audio.transcriptions.create(model="whisper-1", file=audio, response_format="text")
    assert normalize(str(result)) == normalize(JFK_TEXT)


def test_verbose_json(client: OpenAI) -> None:
    with JFK.open("rb") as audio:
        result = client.audio.transcriptions.create(
            model="whisper-tiny.en", file=audio, response_format="verbose_json", timestamp_granularities=["segment"]
        )
    assert normalize(result.text) == normalize(JFK_TEXT)
    assert result.language == "english"
    assert result.duration == pytest.approx(11.0, abs=0.01)
    assert result.segments and result.segments[0].start == 0.0
    assert normalize(" ".join(segment.text for segment in result.segments)) == normalize(JFK_TEXT)


@pytest.mark.parametrize("response_format", ["srt", "vtt"])
def test_subtitles(client: OpenAI, response_format: str) -> None:
    with JFK.open("rb") as audio:
        result = str(client.audio.transcriptions.create(model="whisper-1", file=audio, response_format=response_format))
    cues = parse_subtitles(result, response_format)
    assert len(cues) >= 1 and cues[0].start == 0.0 and 10.0 < cues[-1].end <= 11.0
    assert normalize(" ".join(cue.text for cue in cues)) == normalize(JFK_TEXT)


def test_streaming_a_short_clip_gives_its_text_as_one_delta(client: OpenAI) -> None:
    with JFK.open("rb") as audio:
        events = list(client.audio.transcriptions.create(model="whisper-1", file=audio, stream=True))
    assert [event.type for event in events] == ["transcript.text.delta", "transcript.text.done"]
    assert events[0].delta == events[1].text  # type: ignore[union-attr]
    assert normalize(events[1].text) == normalize(JFK_TEXT)  # type: ignore[union-attr]


def test_models_are_listed(client: OpenAI) -> None:
    assert {model.id for model in client.models.list()} == {"whisper-tiny.en", "whisper-base", "whisper-1"}


def test_sdk_errors_carry_the_openai_error_body(client: OpenAI) -> None:
    from openai import NotFoundError

    with JFK.open("rb") as audio, pytest.raises(NotFoundError) as raised:
        client.audio.transcriptions.create(model="gpt-4o-transcribe", file=audio)
    assert json.loads(raised.value.response.text)["error"]["code"] == "model_not_found"
