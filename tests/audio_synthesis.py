"""Audio made in the tests with FFmpeg's libraries (PyAV): other codecs, rates, damaged files."""

from __future__ import annotations

import io
import struct

import av
import numpy as np

from whisper_runtime.audio import SAMPLE_RATE

# (container format, codec, sample rate) for each format a client may upload.
FORMATS = {
    "mp3": ("mp3", "libmp3lame", 16000),
    "ogg": ("ogg", "libopus", 48000),
    "m4a": ("ipod", "aac", 16000),
    "webm": ("webm", "libopus", 48000),
    "flac": ("flac", "flac", 16000),
    "wav": ("wav", "pcm_s16le", 16000),
}


def _resample(pcm: np.ndarray, rate: int, channels: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(pcm[None, :].astype(np.float32), format="flt", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    layout = "stereo" if channels == 2 else "mono"
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
    frames = [*resampler.resample(frame), *resampler.resample(None)]
    return av.AudioFrame.from_ndarray(
        np.concatenate([f.to_ndarray() for f in frames], axis=1), format="fltp", layout=layout
    )


def encode(pcm: np.ndarray, container: str, codec: str, rate: int = SAMPLE_RATE, channels: int = 1) -> bytes:
    """16 kHz mono float32 `pcm` encoded with `codec` in `container` at `rate` Hz."""
    source = _resample(pcm, rate, channels).to_ndarray()
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream(codec, rate=rate, layout="stereo" if channels == 2 else "mono")
        context = stream.codec_context
        frame_size = context.frame_size or 1024
        for start in range(0, source.shape[1], frame_size):
            chunk = np.ascontiguousarray(source[:, start : start + frame_size])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=context.layout.name)
            frame.sample_rate = rate
            frame = _converted(frame, context)
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return buffer.getvalue()


def _converted(frame: av.AudioFrame, context: av.AudioCodecContext) -> av.AudioFrame:
    if frame.format.name == context.format.name:
        return frame
    (converted,) = av.AudioResampler(
        format=context.format.name, layout=context.layout.name, rate=frame.sample_rate
    ).resample(frame)
    return converted


def encode_format(pcm: np.ndarray, name: str) -> bytes:
    container, codec, rate = FORMATS[name]
    return encode(pcm, container, codec, rate)


def wav_with_unknown_codec(seconds: float = 1.0) -> bytes:
    """A RIFF/WAVE file whose format tag names no codec FFmpeg knows."""
    data = b"\0" * int(seconds * SAMPLE_RATE * 2)
    fmt = struct.pack("<HHIIHH", 0x7777, 1, SAMPLE_RATE, SAMPLE_RATE * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def wav_declaring_hours(hours: float = 5.0) -> bytes:
    """A tiny 16 kHz PCM WAV whose header declares `hours` of audio."""
    fmt = struct.pack("<HHIIHH", 1, 1, SAMPLE_RATE, SAMPLE_RATE * 2, 2, 16)
    data_size = int(hours * 3600 * SAMPLE_RATE * 2)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", data_size)
    return b"RIFF" + struct.pack("<I", min(len(body) + data_size, 0xFFFFFFFF)) + body + b"\0" * 32000


def silent_mp3_of(seconds: float) -> bytes:
    """Compressed silence: a small file that decodes to `seconds` of audio."""
    return encode(np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32), "mp3", "libmp3lame", 16000)


def mp3_understating_its_length(pcm: np.ndarray, claimed_share: float) -> bytes:
    """An MP3 whose Xing/Info header claims only `claimed_share` of the frames it holds."""
    data = bytearray(encode(pcm, "mp3", "libmp3lame", 16000))
    tag = max(data.find(b"Xing"), data.find(b"Info"))
    flags = struct.unpack(">I", data[tag + 4 : tag + 8])[0]
    assert flags & 1, "the encoder wrote no frame count"
    (frames,) = struct.unpack(">I", data[tag + 8 : tag + 12])
    data[tag + 8 : tag + 12] = struct.pack(">I", int(frames * claimed_share))
    return bytes(data)
