"""Weight files are checked against their recorded size and sha256 before any is loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from whisper_runtime.errors import CorruptWeightsError, ModelFilesError
from whisper_runtime.integrity import DIGESTS_KEY, SIZES_KEY, WeightRecord
from whisper_runtime.repository import file_sha256


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[WeightRecord, Path]:
    weights = tmp_path / "m_encoder" / "1" / "int8" / "encoder_model.onnx"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(bytes(range(256)) * 64)
    name = str(weights.relative_to(tmp_path))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps({SIZES_KEY: {name: weights.stat().st_size}, DIGESTS_KEY: {name: file_sha256(weights)}})
    )
    return WeightRecord.read(manifest, tmp_path), weights


def test_an_intact_file_passes(recorded: tuple[WeightRecord, Path]) -> None:
    record, weights = recorded
    assert record.verify(weights) == weights


def test_a_flipped_byte_is_refused_naming_the_file(recorded: tuple[WeightRecord, Path]) -> None:
    record, weights = recorded
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(CorruptWeightsError, match=rf"{weights} does not match its sha256"):
        record.verify(weights)


def test_a_truncated_file_is_refused_naming_the_file(recorded: tuple[WeightRecord, Path]) -> None:
    record, weights = recorded
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CorruptWeightsError, match=rf"{weights} is 1000 bytes where .* records 16384: truncated"):
        record.verify(weights)


def test_a_file_the_manifest_does_not_record_is_refused(recorded: tuple[WeightRecord, Path]) -> None:
    record, weights = recorded
    stranger = weights.with_name("decoder_model.onnx")
    stranger.write_bytes(b"onnx")
    with pytest.raises(CorruptWeightsError, match="is not recorded"):
        record.verify(stranger)


def test_a_manifest_without_digests_asks_for_a_new_export(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({SIZES_KEY: {}}))
    with pytest.raises(ModelFilesError, match="export again"):
        WeightRecord.read(tmp_path / "manifest.json", tmp_path)
