"""The pure parts of live transcription: turn detection, agreed partial text, the session's audio buffer,
the settings a session update gives, and the streaming VAD (the same probabilities as the whole recording's)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from gateway.realtime.buffer import InputAudio, SampleBuffer
from gateway.realtime.partials import AgreedText
from gateway.realtime.protocol import RealtimeError, SessionUpdate
from gateway.realtime.turns import SpeechStarted, SpeechStopped, TurnDetector
from whisper_runtime.audio import SAMPLE_RATE, decode_audio
from whisper_runtime.repository import vad_model
from whisper_runtime.vad import FRAME_SAMPLES, SpeechDetector, VadOptions

OPTIONS = VadOptions(threshold=0.5, min_speech_ms=256, min_silence_ms=320, speech_pad_ms=300)  # 8 and 10 frames


def test_an_utterance_is_announced_after_min_speech_and_ends_after_the_silence() -> None:
    detector = TurnDetector(OPTIONS, max_samples=10**9)
    probabilities = [0.1] * 5 + [0.9] * 20 + [0.1] * 12
    events = detector.push(np.array(probabilities))
    assert events == [SpeechStarted(5 * FRAME_SAMPLES), SpeechStopped(35 * FRAME_SAMPLES)]


def test_the_quiet_run_inside_an_open_utterance_is_known_until_speech_resumes_or_it_ends() -> None:
    detector = TurnDetector(OPTIONS, max_samples=10**9)
    detector.push(np.array([0.9] * 10))
    assert detector.quiet_from is None  # speaking
    detector.push(np.array([0.1] * 4))
    assert detector.quiet_from == 10 * FRAME_SAMPLES  # silent since frame 10, not yet long enough to end it
    detector.push(np.array([0.9]))
    assert detector.quiet_from is None  # speech resumed
    assert detector.push(np.array([0.1] * 10)) == [SpeechStopped(25 * FRAME_SAMPLES)]
    assert detector.quiet_from is None and not detector.open


def test_a_short_burst_is_dropped_and_the_gray_zone_neither_opens_nor_ends() -> None:
    detector = TurnDetector(OPTIONS, max_samples=10**9)
    assert detector.push(np.array([0.9] * 3 + [0.1] * 12)) == []  # 3 frames: under min_speech
    assert detector.push(np.array([0.4] * 20)) == []  # between threshold - 0.15 and threshold
    events = detector.push(np.array([0.9] * 10 + [0.4] * 30 + [0.1] * 10))
    assert events == [SpeechStarted(35 * FRAME_SAMPLES), SpeechStopped(85 * FRAME_SAMPLES)]


def test_a_long_utterance_is_cut_at_the_window_and_positions_start_at_first() -> None:
    detector = TurnDetector(OPTIONS, max_samples=40 * FRAME_SAMPLES, first=1000)
    events = detector.push(np.array([0.9] * 50))
    assert events[:2] == [SpeechStarted(1000), SpeechStopped(1000 + 40 * FRAME_SAMPLES)]
    assert detector.open  # speech goes on: a new one opened at once


def test_agreed_text_sends_what_two_hypotheses_share() -> None:
    text = AgreedText()
    assert text.delta("And so") is None
    assert text.delta("And so my fellow.") == "And so"
    assert text.delta("and so, my fellow Americans") == " my fellow"  # case and punctuation do not disagree
    assert text.delta("And so my fellow Americans ask") == " Americans"
    assert text.delta("Band so my") is None  # contradicts what was sent: nothing more
    assert text.sent == ["And", "so", "my", "fellow", "Americans"]


def test_agreed_text_ends_a_delta_at_a_word_not_at_punctuation() -> None:
    text = AgreedText()
    assert text.delta(". . .") is None
    assert text.delta("... . .") is None  # punctuation agrees with any punctuation: nothing is sent
    assert text.sent == []
    assert text.delta("He hoped - there") is None
    assert text.delta("He hoped - where") == "He hoped"  # the dash waits for the word after it
    assert text.delta("He hoped - where would") == " - where"


def test_sample_buffer_keeps_positions_across_drops_and_growth() -> None:
    buffer = SampleBuffer(np.int16)
    for start in range(0, 20000, 1000):
        buffer.append(np.arange(start, start + 1000, dtype=np.int16))
        buffer.drop_before(start - 2500)
    assert (buffer.start, buffer.end) == (16500, 20000)
    assert buffer.slice(16000, 16503).tolist() == [16500, 16501, 16502]
    assert buffer.slice(19998, 30000).tolist() == [19998, 19999]


def test_input_audio_refuses_what_is_not_pcm16() -> None:
    audio = InputAudio(24000)
    with pytest.raises(RealtimeError, match="even number of bytes"):
        audio.append(b"\0\0\0")
    with pytest.raises(RealtimeError, match="looks like a FLAC file"):
        audio.append(b"fLaC\0\0")
    with pytest.raises(RealtimeError, match="looks like an MP3 file"):
        audio.append(b"ID3\x04\0\0")
    resampled = audio.append(np.zeros(24000, dtype="<i2").tobytes())
    assert 15900 < resampled.size <= 16000 and audio.received_ms == 1000
    audio.append(np.full(2400, -1025, dtype="<i2").tobytes())  # starts b"\xff\xfb", an MP3 frame sync: still PCM
    assert audio.received_ms == 1100


@pytest.mark.parametrize("rate", [16000, 24000])
def test_an_utterance_reaches_the_model_as_the_upload_of_its_samples_would(rate: int) -> None:
    samples = np.random.default_rng(7).integers(-32768, 32768, rate * 3, dtype=np.int64).astype("<i2")
    samples[:2] = [-32768, 32767]
    audio = InputAudio(rate)
    for piece in np.array_split(samples, 30):  # 100 ms appends
        audio.append(piece.tobytes())
    upload = decode_audio(io.BytesIO(audio.wav(500, 2500)))
    committed = audio.upload_audio(500, 2500)
    if rate == SAMPLE_RATE:  # the samples themselves: the upload decoder reads them as exactly these
        assert isinstance(committed, np.ndarray) and np.array_equal(committed, upload)
    else:  # resampled once, whole, by the upload decoder itself
        assert committed == audio.wav(500, 2500)


def test_a_session_update_of_either_dialect() -> None:
    ga = SessionUpdate.read({"type": "transcription", "audio": {"input": {
        "format": {"type": "audio/pcm", "rate": 16000}, "turn_detection": None}}}, "ga")  # fmt: skip
    assert ga.sample_rate == 16000 and ga.turn_detection == (None,)
    beta = SessionUpdate.read({"input_audio_format": "pcm16", "turn_detection": {
        "type": "server_vad", "silence_duration_ms": 200, "create_response": True}}, "beta")  # fmt: skip
    assert beta.sample_rate == 24000 and beta.turn_detection is not None
    assert beta.turn_detection[0] is not None and beta.turn_detection[0].min_silence_ms == 200
    with pytest.raises(RealtimeError) as refused:
        SessionUpdate.read({"turn_detection": {"type": "server_vad", "prefix_padding_ms": -1}}, "beta")
    assert refused.value.param == "session.turn_detection"


def test_streamed_probabilities_equal_the_whole_recordings(repository: Path, jfk_pcm: np.ndarray) -> None:
    detector = SpeechDetector.load(vad_model(repository))
    stream = detector.stream()
    pieces = np.split(jfk_pcm, np.cumsum([333, 5000, 1, 12345, 800]))
    streamed = np.concatenate([stream.push(piece) for piece in pieces] + [stream.finish()])
    np.testing.assert_allclose(streamed, detector.probabilities(jfk_pcm), atol=1e-6)
