"""A live session's input audio: the PCM16 the client sent, kept at its own rate, and the same audio
resampled to 16 kHz as it arrives (for turn detection and partial text).

Positions are milliseconds from the start of the session (OpenAI's `audio_start_ms`/`audio_end_ms`).
An utterance's final text is decoded from exactly the samples a file upload of the same PCM16 gives: at
16 kHz the samples / 32768 (which is what the upload decoder reads from a 16 kHz PCM16 WAV), at other rates
the PCM16 written as a WAV file for the upload decoder to read (only its one-shot resampler gives an
upload's samples).
"""

from __future__ import annotations

import io
import wave

import av
import numpy as np

from gateway.realtime.protocol import RealtimeError
from whisper_runtime.audio import SAMPLE_RATE, new_resampler

PCM16_BYTES = 2
# What a base64 `audio` that is really a file starts with: such clients must send raw samples instead. Four bytes
# each, so that PCM is taken for a file once in 2**32 appends (an MP3 frame sync, two bytes, is sample -1025).
FILE_SIGNATURES = {b"RIFF": "a WAV", b"ID3\x03": "an MP3", b"ID3\x04": "an MP3", b"fLaC": "a FLAC", b"OggS": "an Ogg"}


class SampleBuffer:
    """The samples of a stream from `start` on (positions counted from the stream's first sample):
    appended at the end, dropped from the front, in amortized constant time per sample."""

    def __init__(self, dtype: type[np.generic], start: int = 0) -> None:
        self._data = np.zeros(4096, dtype=dtype)
        self._first = start  # the position of _data[0]
        self.start = start  # the position of the first sample held
        self.end = start  # the position after the last

    def append(self, samples: np.ndarray) -> None:
        if self.end + samples.size - self._first > self._data.size:  # move what is held to a new array
            held = self.end - self.start
            data = np.zeros(max(2 * (held + samples.size), 4096), dtype=self._data.dtype)
            data[:held] = self._data[self.start - self._first : self.end - self._first]
            self._data, self._first = data, self.start
        at = self.end - self._first
        self._data[at : at + samples.size] = samples
        self.end += samples.size

    def slice(self, start: int, end: int) -> np.ndarray:
        """A copy of positions [start, end), clipped to what is held."""
        start, end = max(start, self.start), min(end, self.end)
        return self._data[start - self._first : max(start, end) - self._first].copy()

    def drop_before(self, position: int) -> None:
        self.start = min(max(self.start, position), self.end)


def _pcm16(audio: bytes) -> np.ndarray:
    if len(audio) % PCM16_BYTES:
        raise RealtimeError(
            f"audio must be 16-bit PCM samples (an even number of bytes), not {len(audio)} bytes",
            code="invalid_audio",
            param="audio",
        )
    for signature, kind in FILE_SIGNATURES.items():
        if audio.startswith(signature):
            raise RealtimeError(
                f"audio looks like {kind} file: send raw 16-bit little-endian PCM samples, base64-encoded",
                code="invalid_audio",
                param="audio",
            )
    return np.frombuffer(audio, dtype="<i2")


class InputAudio:
    """The audio of one session at the client's `rate`, and at 16 kHz, from `start_ms` of the session on (a
    format change goes on from where the audio before it ended)."""

    def __init__(self, rate: int, start_ms: int = 0) -> None:
        self.rate = rate
        self.pcm16 = SampleBuffer(np.int16, start_ms * rate // 1000)
        self.speech = SampleBuffer(np.float32, start_ms * SAMPLE_RATE // 1000)  # 16 kHz
        self._resampler = None if rate == SAMPLE_RATE else new_resampler()

    def append(self, audio: bytes) -> np.ndarray:
        """Add PCM16 bytes; returns the new 16 kHz samples. RealtimeError when they are not PCM16."""
        samples = _pcm16(audio)
        self.pcm16.append(samples)
        if self._resampler is None:
            resampled = samples.astype(np.float32) / 32768.0
        else:
            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = self.rate
            frames = self._resampler.resample(frame)
            resampled = np.concatenate([f.to_ndarray().reshape(-1) for f in frames] or [np.zeros(0, np.float32)])
        self.speech.append(resampled)
        return resampled

    @property
    def received_ms(self) -> int:
        """How much audio the session has received, in whole milliseconds."""
        return self.pcm16.end * 1000 // self.rate

    @property
    def held_ms(self) -> int:
        """How much of it is held (not yet committed, cleared or dropped)."""
        return (self.pcm16.end - self.pcm16.start) * 1000 // self.rate

    @property
    def start_ms(self) -> int:
        return -(-self.pcm16.start * 1000 // self.rate)

    def _at(self, ms: int) -> int:
        return ms * self.rate // 1000

    def upload_audio(self, start_ms: int, end_ms: int | None = None) -> np.ndarray | bytes:
        """The audio of [start_ms, end_ms) (to the end when None) as a file upload of it reaches the model: at
        16 kHz its 16 kHz PCM; at other rates a WAV file at the client's rate, for the upload decoder."""
        return self.speech_pcm(start_ms, end_ms) if self._resampler is None else self.wav(start_ms, end_ms)

    def wav(self, start_ms: int, end_ms: int | None = None) -> bytes:
        """The PCM16 of [start_ms, end_ms) (to the end when None) as a WAV file at the client's rate."""
        end = self.pcm16.end if end_ms is None else self._at(end_ms)
        out = io.BytesIO()
        with wave.open(out, "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(PCM16_BYTES)
            writer.setframerate(self.rate)
            writer.writeframes(self.pcm16.slice(self._at(start_ms), end).astype("<i2").tobytes())
        return out.getvalue()

    def speech_pcm(self, start_ms: int, end_ms: int | None = None) -> np.ndarray:
        """The 16 kHz audio of [start_ms, end_ms) (to the end when None)."""
        end = self.speech.end if end_ms is None else end_ms * SAMPLE_RATE // 1000
        return self.speech.slice(start_ms * SAMPLE_RATE // 1000, end)

    def drop_before(self, ms: int) -> None:
        """Forget the audio before `ms` (committed, cleared, or too far before any speech to be kept)."""
        self.pcm16.drop_before(self._at(ms))
        self.speech.drop_before(ms * SAMPLE_RATE // 1000)
