"""The fuzz corpus: deterministic by (seed, index), made lazily, covering every kind of hostile upload."""

from __future__ import annotations

import io
import itertools
import struct
import types
from pathlib import Path

import numpy as np
import pytest

from fuzzing.corpus import ENCODINGS, KINDS, LONG_VARIANTS, Case, case, cases, encoded, long_upload, main
from fuzzing.synthesis import WAVE_FLOAT, encode, mp3_declaring, wav
from whisper_runtime.audio import SAMPLE_RATE, DecodeLimits, decode_audio
from whisper_runtime.errors import AudioTooLongError


def test_a_case_is_the_same_bytes_every_time_and_depends_on_the_seed() -> None:
    first = [case(0, index) for index in range(40)]
    assert first == list(cases(0, 40))
    assert first == [case(0, index) for index in range(40)]
    assert list(cases(0, 10, start=30)) == first[30:]
    assert [upload.data for upload in cases(1, 40)] != [upload.data for upload in first]


def test_cases_are_made_one_at_a_time_without_end() -> None:
    endless = cases(0)
    assert isinstance(endless, types.GeneratorType)
    assert all(isinstance(upload, Case) for upload in itertools.islice(endless, 5))


def test_the_first_cases_cover_every_kind_and_odd_filenames() -> None:
    uploads = list(cases(0, 400))
    assert {upload.name.split(":")[2] for upload in uploads} == set(KINDS)
    assert any(upload.data == b"" for upload in uploads)
    assert any("\r\n" in upload.filename for upload in uploads)
    assert any(not upload.filename.endswith((".flac", ".wav", ".mp3", ".bin")) for upload in uploads)


def test_every_encoding_decodes_back_to_the_snippet_length() -> None:
    for index, (container, codec, _, _) in enumerate(ENCODINGS):
        pcm = decode_audio(io.BytesIO(encoded(index)))
        assert abs(pcm.size / SAMPLE_RATE - 2.0) < 0.15, (container, codec)  # codec priming: up to ~0.1 s


@pytest.mark.parametrize("variant", LONG_VARIANTS[:4])
def test_long_uploads_are_small_files_refused_as_too_long(variant: int) -> None:
    _, data = long_upload(variant)
    assert len(data) < 1024 * 1024
    with pytest.raises(AudioTooLongError):
        decode_audio(io.BytesIO(data), DecodeLimits(max_seconds=30.0))


def test_wav_writes_every_header_field_it_is_given() -> None:
    data = wav(b"\0" * 8, format_tag=WAVE_FLOAT, channels=3, rate=7, bits=32, data_size=0xFFFFFFFF, riff_size=5)
    riff_size, fmt, data_size = struct.unpack_from("<I", data, 4), data[20:36], struct.unpack_from("<I", data, 40)
    assert riff_size == (5,)
    assert struct.unpack("<HHIIHH", fmt) == (WAVE_FLOAT, 3, 7, 7 * 12, 12, 32)
    assert data_size == (0xFFFFFFFF,)


def test_mp3_declaring_changes_only_the_declared_length() -> None:
    pcm = np.zeros(4 * SAMPLE_RATE, dtype=np.float32)
    assert len(mp3_declaring(pcm, 10.0)) == len(encode(pcm, "mp3", "libmp3lame"))
    with pytest.raises(AudioTooLongError):
        decode_audio(io.BytesIO(mp3_declaring(pcm, 10.0)), DecodeLimits(max_seconds=30.0))


def test_the_cli_writes_one_case_for_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "case.bin"
    assert main(["--seed", "3", "--index", "17", "--out", str(out)]) == 0
    assert out.read_bytes() == case(3, 17).data
    assert case(3, 17).name in capsys.readouterr().out
