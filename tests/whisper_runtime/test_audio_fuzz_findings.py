"""Inputs the fuzzers (make fuzz) found that decode_audio once turned into 500s or long stalls, made here.

Each must end in PCM within the limits or in a typed InvalidAudioError, quickly.
"""

from __future__ import annotations

import struct
import time

import numpy as np

from fuzzing.decode_target import check_decode
from fuzzing.synthesis import WAVE_ALAW, encode, wav
from whisper_runtime.audio import SAMPLE_RATE


def _wav_with_title(title: bytes) -> bytes:
    """One second of silence with a LIST/INFO chunk naming the title (as Windows tools write it)."""
    plain = wav(b"\0" * 2 * SAMPLE_RATE)
    title += b"\0" * (2 - len(title) % 2)
    info = b"INFO" + b"INAM" + struct.pack("<I", len(title)) + title
    body = plain[8:] + b"LIST" + struct.pack("<I", len(info)) + info
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _mp3_turning_stereo_half_way() -> bytes:
    """A mono MP3 whose frame headers say "stereo" from the middle on (MPEG allows a change per frame)."""
    data = bytearray(encode(np.sin(np.arange(2 * SAMPLE_RATE) / 10).astype(np.float32) * 0.1, "mp3", "libmp3lame"))
    first = data.find(b"\xff\xf3")
    headers = [
        i for i in range(first, len(data) - 4) if data[i] == 0xFF and data[i + 1] == 0xF3 and data[i + 3] >= 0xC0
    ]
    for position in headers[len(headers) // 2 :]:
        data[position + 3] &= 0x3F  # channel mode bits 00: stereo
    return bytes(data)


def test_metadata_that_is_not_utf8_is_no_obstacle() -> None:
    """Once a UnicodeDecodeError from av.open: a Latin-1 title made good audio a 500."""
    pcm = check_decode(_wav_with_title("Caf\u00e9".encode("latin-1")))
    assert pcm is not None and pcm.size == SAMPLE_RATE


def test_a_stream_that_changes_layout_part_way_decodes_or_is_refused() -> None:
    """Once a ValueError from the resampler, set up for the first frame's layout."""
    pcm = check_decode(_mp3_turning_stereo_half_way())
    assert pcm is None or pcm.size <= 3 * SAMPLE_RATE


def test_a_one_hertz_wav_is_not_resampled_past_the_limit() -> None:
    """Once 37 s of PCM from 81 bytes (37 A-law samples at 1 Hz), most of it from the resampler's flush."""
    tiny = wav(b"\0" * 37, format_tag=WAVE_ALAW, rate=1, bits=16, byte_rate=3, block_align=3, data_size=2406)
    assert len(tiny) == 81
    assert check_decode(tiny) is None


def test_an_absurd_sample_rate_is_refused_quickly() -> None:
    """Once seconds and GBs: 3 bytes of 24-bit audio declared at 344 MHz took 3 s and 400 MB to set up
    the resampler (1.38 GHz: 12 s, 1.5 GB), inside one call, so decode_timeout_s never fired."""
    absurd = wav(b"\x06Mo", rate=344_124_928, bits=24, byte_rate=1_152_000, block_align=3)
    assert len(absurd) == 47
    started = time.monotonic()
    assert check_decode(absurd) is None
    assert time.monotonic() - started < 0.5
