"""Fuzz inputs for audio intake: real clips mutated, and hostile files synthesized.

Every case is built on demand from `(seed, index)` alone: `cases(seed)` yields any number of
inputs without touching the disk, and `case(seed, index)` rebuilds one of them exactly, so a
finding is reproduced with `python -m fuzzing.corpus --seed S --index I --out FILE`.

Sources are the clips in ../shared/audio (jfk, LibriSpeech, eval/short) and short encodings of
the first seconds of jfk in every container/codec pair the bundled FFmpeg writes (PyAV).
"""

from __future__ import annotations

import argparse
import functools
import random
import re
import struct
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fuzzing.synthesis import (
    WAVE_ALAW,
    WAVE_EXTENSIBLE,
    WAVE_FLOAT,
    WAVE_MULAW,
    WAVE_PCM,
    encode,
    mp3_declaring,
    s16,
    silent_mp3,
    wav,
)
from tests.audio_files import AUDIO_DIR, JFK, LIBRISPEECH
from whisper_runtime.audio import SAMPLE_RATE, decode_audio

EVAL_SHORT = sorted((AUDIO_DIR / "eval" / "short").glob("*.flac"))
REAL_CLIPS: tuple[Path, ...] = (JFK, *LIBRISPEECH, *EVAL_SHORT)

# (container, codec, sample rate, channels): the pairs the bundled FFmpeg encodes and decodes back.
ENCODINGS: tuple[tuple[str, str, int, int], ...] = (
    ("wav", "pcm_s16le", 16000, 1),
    ("wav", "pcm_f32le", 16000, 1),
    ("wav", "pcm_u8", 8000, 1),
    ("wav", "pcm_alaw", 8000, 1),
    ("wav", "pcm_mulaw", 8000, 1),
    ("wav", "adpcm_ima_wav", 16000, 1),
    ("wav", "pcm_s24le", 48000, 2),
    ("w64", "pcm_s32le", 16000, 1),
    ("aiff", "pcm_s16be", 22050, 1),
    ("au", "pcm_mulaw", 8000, 1),
    ("caf", "alac", 16000, 1),
    ("wv", "wavpack", 16000, 1),
    ("mp2", "mp2", 16000, 1),
    ("ac3", "ac3", 48000, 2),
    ("amr", "libopencore_amrnb", 8000, 1),
    ("3gp", "libopencore_amrnb", 8000, 1),
    ("nut", "pcm_f64le", 16000, 1),
    ("tta", "tta", 16000, 1),
    ("mp3", "libmp3lame", 16000, 1),
    ("mp3", "libmp3lame", 44100, 2),
    ("ogg", "libopus", 48000, 1),
    ("opus", "libopus", 48000, 2),
    ("ipod", "aac", 16000, 1),
    ("adts", "aac", 44100, 2),
    ("mov", "aac", 16000, 1),
    ("webm", "libopus", 48000, 1),
    ("flac", "flac", 16000, 1),
    ("mpegts", "mp2", 16000, 1),
    ("avi", "pcm_s16le", 16000, 1),
    ("voc", "pcm_u8", 8000, 1),
)
EXTENSIONS = {"ipod": "m4a", "mov": "mov", "adts": "aac", "mpegts": "ts", "w64": "w64", "3gp": "3gp"}
SNIPPET_SECONDS = 2.0

# Leading bytes of formats FFmpeg probes for, and of things that are not audio at all.
MAGICS = (
    b"RIFF\x00\x00\x00\x00WAVE",
    b"RIFF\xff\xff\xff\xffWAVEfmt ",
    b"fLaC",
    b"fLaC\x00\x00\x00\x22",
    b"OggS\x00\x02",
    b"ID3\x03\x00\x00\x00\x00\x00\x00",
    b"\xff\xfb\x90\x64",
    b"\x1aE\xdf\xa3",
    b"\x00\x00\x00\x20ftypM4A ",
    b"FORM\x00\x00\x00\x00AIFF",
    b".snd",
    b"#!AMR\n",
    b"wvpk",
    b"TTA1",
    b"caff\x00\x01\x00\x00",
    b"0&\xb2u\x8ef\xcf\x11\xa6\xd9\x00\xaa\x00b\xcel",
    b"\x0bw",
    b"RIFF\x00\x00\x00\x00AVI LIST",
    b"%PDF-1.7\n",
    b"\x89PNG\r\n\x1a\n",
    b"<html><body>",
    b'{"audio": "',
    b"PK\x03\x04",
)
MPEG_SYNC = re.compile(rb"\xff[\xe0-\xff]")  # 11 set bits: the start of an MPEG audio frame header
U16_EDGES = (0, 1, 2, 3, 7, 8, 255, 256, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF)
U32_EDGES = (0, 1, 2, 0xFF, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)
ODD_FILENAMES = (
    "",
    "audio",
    "audio.txt",
    "audio.exe",
    ".flac",
    "a" * 1000 + ".wav",
    "../../../etc/passwd",
    "C:\\Windows\\win.ini",
    "名前の音声.flac",
    "\U0001f3a4 recording.ogg",
    'quote".wav',
    "semi;colon=x.wav",
    "percent%00.wav",
    "new\r\nline.wav",
    "tab\t.wav",
    "nul\x00.wav",
    "back\\slash.wav",
    "  spaced  .mp3",
)


class Case(NamedTuple):
    name: str
    data: bytes
    filename: str


Rng = random.Random


def case(seed: int, index: int) -> Case:
    """Input number `index` of the corpus for `seed`; the same pair always gives the same bytes."""
    # Not for secrets: a str seed is hashed with SHA-512, so the same case comes back in every run and process.
    rng = random.Random(f"fuzzing.corpus:{seed}:{index}")  # noqa: S311  # nosec B311
    kind = rng.choices(list(KINDS), weights=[weight for weight, _ in KINDS.values()])[0]
    label, data, filename = KINDS[kind][1](rng)
    if rng.random() < 0.25:
        filename = rng.choice(ODD_FILENAMES)
    return Case(f"{seed}:{index}:{kind}:{label}", data, filename)


def cases(seed: int = 0, count: int | None = None, start: int = 0) -> Iterator[Case]:
    """Cases `start`, `start + 1`, ... of the corpus for `seed`, made one at a time (endless without `count`)."""
    index = start
    while count is None or index < start + count:
        yield case(seed, index)
        index += 1


# -- sources, each built once per process ----------------------------------------------------------


@functools.cache
def real_clip(index: int) -> bytes:
    return REAL_CLIPS[index].read_bytes()


@functools.cache
def snippet() -> np.ndarray:
    """The first seconds of jfk as 16 kHz mono float32: speech to encode in every format."""
    return decode_audio(JFK)[: int(SNIPPET_SECONDS * SAMPLE_RATE)]


@functools.cache
def encoded(index: int) -> bytes:
    container, codec, rate, channels = ENCODINGS[index]
    return encode(snippet(), container, codec, rate, channels)


def encoded_filename(index: int) -> str:
    container, codec, _, _ = ENCODINGS[index]
    return f"{codec}.{EXTENSIONS.get(container, container)}"


@functools.cache
def long_upload(variant: int) -> tuple[str, bytes]:
    """Small files that declare or decode to more than 30 s (one Whisper window)."""
    speech = snippet()
    if variant == 0:
        return "silent-mp3-45s", silent_mp3(45.0)
    if variant == 1:
        return "mp3-understating-40s", mp3_declaring(np.tile(speech, 20), 0.25)
    if variant == 2:
        return "mp3-overstating-2s", mp3_declaring(speech, 200.0)
    if variant == 3:
        return "wav-u8-8k-31s", encode(np.tile(speech, 16)[: 31 * SAMPLE_RATE], "wav", "pcm_u8", 8000)
    declared = min(int(variant * 3600 * SAMPLE_RATE * 2), 0xFFFFFFFF)  # 0xFFFFFFFF: 37 h, WAV's largest
    return f"wav-declaring-{declared}B", wav(b"\0" * 32000, data_size=declared, riff_size=declared + 36)


LONG_VARIANTS = (0, 1, 2, 3, 5, 1000)


def _base(rng: Rng) -> tuple[str, bytes, str]:
    """A valid file to start from: a real clip or an encoding of the snippet."""
    if rng.random() < 0.5:
        index = rng.randrange(len(REAL_CLIPS))
        return REAL_CLIPS[index].name, real_clip(index), REAL_CLIPS[index].name
    index = rng.randrange(len(ENCODINGS))
    return encoded_filename(index), encoded(index), encoded_filename(index)


# -- WAV headers that lie ----------------------------------------------------------------------------


def _lying_wav(rng: Rng) -> tuple[str, bytes, str]:
    speech = snippet()[: rng.randrange(1, len(snippet()))]
    fields: dict[str, int] = {}
    for name in rng.sample(["riff_size", "data_size", "rate", "channels", "bits", "byte_rate", "block_align"], k=2):
        if name in ("channels", "bits", "block_align"):
            fields[name] = rng.choice(U16_EDGES)
        elif rng.random() < 0.7:
            fields[name] = rng.choice(U32_EDGES)
        else:
            fields[name] = rng.randrange(1 << 32)
    format_tag = rng.choice((WAVE_PCM, WAVE_PCM, WAVE_FLOAT, WAVE_ALAW, WAVE_MULAW, WAVE_EXTENSIBLE, 0, 0x7777))
    label = "wav-" + ",".join(f"{name}={value}" for name, value in sorted(fields.items())) + f",tag={format_tag}"
    return label, wav(s16(speech), format_tag=format_tag, **fields), "lying.wav"


def _float_wav(rng: Rng) -> tuple[str, bytes, str]:
    samples = snippet().astype(np.float64)
    poison = rng.choice(("nan", "inf", "-inf", "huge", "denormal", "mixed", "clean"))
    positions = rng.sample(range(samples.size), k=rng.choice((1, 10, 1000)))
    if poison == "huge":
        samples *= 1e30
    elif poison == "denormal":
        samples *= 1e-42
    elif poison == "mixed":
        samples[positions] = rng.choice((np.nan, np.inf, -np.inf))
        samples[rng.sample(range(samples.size), k=100)] = 3.4e38
    elif poison != "clean":
        samples[positions] = float(poison)
    bits = rng.choice((32, 64))
    rate = rng.choice((16000, 44100))
    data = samples.astype("<f4" if bits == 32 else "<f8").tobytes()
    return f"float{bits}-wav-{rate}-{poison}", wav(data, format_tag=WAVE_FLOAT, bits=bits, rate=rate), "float.wav"


# -- other synthesized inputs --------------------------------------------------------------------------


@functools.cache
def _silent_flac() -> bytes:
    return encode(np.zeros(3 * SAMPLE_RATE, dtype=np.float32), "flac", "flac")


@functools.cache
def _silent_mp3() -> bytes:
    return silent_mp3(3.0)


def _silent(rng: Rng) -> tuple[str, bytes, str]:
    variant = rng.randrange(6)
    seconds = rng.choice((0.01, 0.1, 1.0, 5.0, 29.9))
    if variant == 0:
        return f"zeros-wav-{seconds}s", wav(b"\0" * (int(seconds * SAMPLE_RATE) * 2)), "silence.wav"
    if variant == 1:
        return "silent-mp3-3s", _silent_mp3(), "silence.mp3"
    if variant == 2:
        return "silent-flac-3s", _silent_flac(), "silence.flac"
    if variant == 3:  # DC offset: silence to the ear, not to the model
        level = rng.choice((1, 16384, 32767, -32768))
        return f"dc-wav-{level}", wav(struct.pack("<h", level) * int(seconds * SAMPLE_RATE)), "dc.wav"
    if variant == 4:  # full-scale noise and square waves: as loud as PCM gets
        noise = np.random.default_rng(rng.randrange(1 << 32)).uniform(-1, 1, int(seconds * SAMPLE_RATE))
        return f"noise-wav-{seconds}s", wav(s16(noise)), "noise.wav"
    square = np.sign(np.sin(2 * np.pi * rng.choice((50, 1000, 7999)) * np.arange(int(seconds * SAMPLE_RATE)) / 16000))
    return f"square-wav-{seconds}s", wav(s16(square)), "square.wav"


def _tiny(rng: Rng) -> tuple[str, bytes, str]:
    samples = rng.choice((0, 1, 2, 10, 100, 400))
    data = s16(snippet()[:samples])
    if rng.random() < 0.3:
        data += b"\x01"  # an odd byte count for 16-bit samples
    return f"tiny-wav-{samples}-samples-{len(data)}B", wav(data), "tiny.wav"


def _odd_format(rng: Rng) -> tuple[str, bytes, str]:
    """A well-formed WAV whose parameters are legal but extreme."""
    rate = rng.choice((1, 100, 4000, 8000, 192000, 384000, 768000, rng.randrange(1 << 31)))
    channels = rng.choice((1, 2, 6, 8, 32, 255))
    bits = rng.choice((8, 16, 24, 32))
    frames = rng.choice((1, 100, 4000, 64000))
    noise = np.random.default_rng(rng.randrange(1 << 32)).bytes(frames * channels * bits // 8)
    return (
        f"wav-{rate}Hz-{channels}ch-{bits}bit-{frames}frames",
        wav(noise, channels=channels, rate=rate, bits=bits),
        "odd.wav",
    )


def _random_bytes(rng: Rng) -> tuple[str, bytes, str]:
    size = int(2 ** rng.uniform(0, 16))
    data = rng.randbytes(size)
    if rng.random() < 0.6:
        magic = rng.choice(MAGICS)
        return f"random-{size}B-after-{magic[:8]!r}", magic + data, "random.bin"
    return f"random-{size}B", data, "random.bin"


def _empty(_: Rng) -> tuple[str, bytes, str]:
    return "empty", b"", "empty.wav"


def _long(rng: Rng) -> tuple[str, bytes, str]:
    label, data = long_upload(rng.choice(LONG_VARIANTS))
    return label, data, "long.bin"


# -- mutations of valid files -----------------------------------------------------------------------


def _truncate(rng: Rng, data: bytes) -> tuple[str, bytes]:
    cut = rng.randrange(len(data)) if data else 0
    return f"truncate@{cut}", data[:cut]


def _flip_bits(rng: Rng, data: bytes) -> tuple[str, bytes]:
    out = bytearray(data)
    flips = rng.choice((1, 1, 2, 4, 8, 32, 256))
    region = len(out) if rng.random() < 0.5 else min(len(out), 1024)
    for _ in range(flips if region else 0):
        out[rng.randrange(region)] ^= 1 << rng.randrange(8)
    return f"flip{flips}in{region}", bytes(out)


def _corrupt_header(rng: Rng, data: bytes) -> tuple[str, bytes]:
    """Overwrite a few fields near the start with boundary values (sizes, rates and counts live there)."""
    out = bytearray(data)
    region = min(len(out), 256)
    for _ in range(rng.randint(1, 4) if region >= 4 else 0):
        offset = rng.randrange(region - 3)
        width, edges = rng.choice(((2, U16_EDGES), (4, U32_EDGES)))
        value = rng.choice(edges).to_bytes(width, rng.choice(("little", "big")))
        out[offset : offset + width] = value[: region - offset]
    return "header", bytes(out)


def _lying_streaminfo(rng: Rng, data: bytes) -> tuple[str, bytes]:
    """FLAC: rewrite STREAMINFO's rate / channels / bits / total samples (one 64-bit field at offset 18)."""
    if not data.startswith(b"fLaC") or len(data) < 26:
        return _corrupt_header(rng, data)
    rate = rng.choice((0, 1, 8000, 16000, 655350, (1 << 20) - 1))
    channels = rng.randrange(8)
    bits = rng.randrange(32)
    total = rng.choice((0, 1, 1 << 20, 1 << 32, (1 << 36) - 1))
    packed = (rate << 44) | (channels << 41) | (bits << 36) | total
    return f"streaminfo-rate={rate},ch={channels + 1},bits={bits + 1},total={total}", (
        data[:18] + packed.to_bytes(8, "big") + data[26:]
    )


def _mpeg_frame_headers(rng: Rng, data: bytes) -> tuple[str, bytes]:
    """MPEG audio: from frame k on, rewrite one field of every frame header (channel mode, rate or bitrate index).

    A stream whose parameters change part-way is legal MPEG and hard for decoders and resamplers.
    """
    syncs = [match.start() for match in MPEG_SYNC.finditer(data, 0, max(0, len(data) - 3))]
    if len(syncs) < 4:
        return _flip_bits(rng, data)
    out = bytearray(data)
    byte, mask, value = rng.choice(((3, 0xC0, rng.randrange(4) << 6), (2, 0x0C, rng.randrange(3) << 2),
                                    (2, 0xF0, rng.randrange(1, 15) << 4)))  # fmt: skip
    start = rng.randrange(len(syncs))
    for position in syncs[start:]:
        out[position + byte] = (out[position + byte] & ~mask & 0xFF) | value
    return f"mpeg-headers[{byte}]&{mask:#x}={value:#x}from{start}", bytes(out)


def _splice(rng: Rng, data: bytes) -> tuple[str, bytes]:
    if len(data) < 2:
        return "append", data + rng.randbytes(16)
    start = rng.randrange(len(data))
    end = min(len(data), start + int(2 ** rng.uniform(0, 14)))
    how = rng.choice(("delete", "duplicate", "insert", "zero", "swap"))
    if how == "delete":
        return f"delete{start}:{end}", data[:start] + data[end:]
    if how == "duplicate":
        return f"duplicate{start}:{end}", data[:end] + data[start:end] * rng.randint(1, 8) + data[end:]
    if how == "insert":
        return f"insert@{start}", data[:start] + rng.randbytes(end - start) + data[start:]
    if how == "zero":
        return f"zero{start}:{end}", data[:start] + b"\0" * (end - start) + data[end:]
    other = rng.randrange(len(data))
    first, second = sorted((start, other))
    size = min(end - start, second - first)
    swapped = data[:first] + data[second : second + size] + data[first + size : second] + data[first : first + size]
    return f"swap{first},{second}+{size}", swapped + data[second + size :]


def _concat(rng: Rng, data: bytes) -> tuple[str, bytes]:
    """Two containers back to back, or a container with garbage before or after it."""
    how = rng.choice(("other", "twice", "garbage-after", "garbage-before"))
    if how == "other":
        label, other, _ = _base(rng)
        return f"+{label}", data + other
    if how == "twice":
        return "twice", data + data
    garbage = rng.randbytes(int(2 ** rng.uniform(0, 12)))
    return how, (data + garbage) if how == "garbage-after" else (garbage + data)


MUTATIONS: tuple[Callable[[Rng, bytes], tuple[str, bytes]], ...] = (
    _truncate,
    _flip_bits,
    _flip_bits,
    _corrupt_header,
    _lying_streaminfo,
    _mpeg_frame_headers,
    _splice,
    _splice,
    _concat,
)


def _mutated(rng: Rng) -> tuple[str, bytes, str]:
    """A valid file after one to three mutations (most often one)."""
    label, data, filename = _base(rng)
    steps = [label]
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        step, data = rng.choice(MUTATIONS)(rng, data)
        steps.append(step)
    return "/".join(steps), data, filename


# kind: (weight, generator of (label, bytes, natural filename))
KINDS: dict[str, tuple[float, Callable[[Rng], tuple[str, bytes, str]]]] = {
    "mutated": (55, _mutated),
    "lying-wav": (8, _lying_wav),
    "float-wav": (6, _float_wav),
    "random": (8, _random_bytes),
    "valid": (6, _base),
    "silent": (4, _silent),
    "odd-format": (4, _odd_format),
    "tiny": (3, _tiny),
    "long": (3, _long),
    "empty": (1, _empty),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzzing.corpus", description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--index", type=int, help="write this case's bytes to --out (a finding's reproducer)")
    parser.add_argument("--out", type=Path, help="where --index writes its bytes")
    parser.add_argument("--list", type=int, default=0, metavar="N", help="print the names and sizes of N cases")
    args = parser.parse_args(argv)
    if args.index is not None:
        found = case(args.seed, args.index)
        if args.out is None:
            parser.error("--index needs --out")
        args.out.write_bytes(found.data)
        print(f"{found.name}: {len(found.data)} bytes, filename {found.filename!r} -> {args.out}")
    for found in cases(args.seed, args.list):
        print(f"{found.name}\t{len(found.data)}\t{found.filename!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
