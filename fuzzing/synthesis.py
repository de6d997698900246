"""Audio files made here: PCM encoded in any container/codec FFmpeg writes (PyAV), WAV headers with any field."""

from __future__ import annotations

import io
import struct

import av
import numpy as np

from whisper_runtime.audio import SAMPLE_RATE

WAVE_PCM, WAVE_FLOAT, WAVE_ALAW, WAVE_MULAW, WAVE_EXTENSIBLE = 1, 3, 6, 7, 0xFFFE
WAVE_UNKNOWN_CODEC = 0x7777  # a format tag that names no codec FFmpeg knows

# (container format, codec, sample rate) of each format a client may upload, by file extension.
UPLOAD_FORMATS = {
    "mp3": ("mp3", "libmp3lame", 16000),
    "ogg": ("ogg", "libopus", 48000),
    "m4a": ("ipod", "aac", 16000),
    "webm": ("webm", "libopus", 48000),
    "flac": ("flac", "flac", 16000),
    "wav": ("wav", "pcm_s16le", 16000),
}


def encode(pcm: np.ndarray, container: str, codec: str, rate: int = SAMPLE_RATE, channels: int = 1) -> bytes:
    """16 kHz mono float32 `pcm` encoded with `codec` in `container` at `rate` Hz and `channels` channels."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream(codec, rate=rate, layout="stereo" if channels == 2 else "mono")
        if not isinstance(stream, av.AudioStream):
            raise TypeError(f"{codec} is not an audio codec")
        context = stream.codec_context
        resampler = av.AudioResampler(
            format=context.format.name, layout=context.layout.name, rate=rate, frame_size=context.frame_size or None
        )
        source = av.AudioFrame.from_ndarray(pcm.reshape(1, -1).astype(np.float32), format="flt", layout="mono")
        source.sample_rate = SAMPLE_RATE
        for frame in [*resampler.resample(source), *resampler.resample(None)]:
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return buffer.getvalue()


def encode_format(pcm: np.ndarray, extension: str) -> bytes:
    """`pcm` as a file of one of UPLOAD_FORMATS."""
    container, codec, rate = UPLOAD_FORMATS[extension]
    return encode(pcm, container, codec, rate)


def silent_mp3(seconds: float) -> bytes:
    """Compressed silence: a small file that decodes to `seconds` of audio."""
    return encode(np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32), "mp3", "libmp3lame")


def mp3_declaring(pcm: np.ndarray, declared_share: float) -> bytes:
    """An MP3 of `pcm` whose Xing/Info header declares `declared_share` times the frames it holds."""
    data = bytearray(encode(pcm, "mp3", "libmp3lame"))
    tag = max(data.find(b"Xing"), data.find(b"Info"))
    (flags,) = struct.unpack(">I", data[tag + 4 : tag + 8])
    if not flags & 1:
        raise ValueError("the encoder wrote no frame count")
    (frames,) = struct.unpack(">I", data[tag + 8 : tag + 12])
    data[tag + 8 : tag + 12] = struct.pack(">I", min(int(frames * declared_share), 0xFFFFFFFF))
    return bytes(data)


def wav(
    data: bytes,
    *,
    format_tag: int = WAVE_PCM,
    channels: int = 1,
    rate: int = SAMPLE_RATE,
    bits: int = 16,
    riff_size: int | None = None,
    data_size: int | None = None,
    byte_rate: int | None = None,
    block_align: int | None = None,
) -> bytes:
    """A RIFF/WAVE file around `data`; every header field can be set to any value, true or not (cut to its width)."""
    block = channels * bits // 8 if block_align is None else block_align
    rate_bytes = rate * block if byte_rate is None else byte_rate
    fmt = struct.pack(
        "<HHIIHH", format_tag & 0xFFFF, channels & 0xFFFF, rate & 0xFFFFFFFF, rate_bytes & 0xFFFFFFFF,
        block & 0xFFFF, bits & 0xFFFF,
    )  # fmt: skip
    declared = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", declared & 0xFFFFFFFF)
    body += data
    return b"RIFF" + struct.pack("<I", (len(body) if riff_size is None else riff_size) & 0xFFFFFFFF) + body


def s16(pcm: np.ndarray) -> bytes:
    """Float PCM as 16-bit little-endian samples (clipped)."""
    return (np.clip(pcm, -1.0, 1.0) * 32767).astype("<i2").tobytes()
