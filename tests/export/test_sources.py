"""Bundled sources: split CTranslate2 weights are checked and joined, and both parts define the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from export.ct2_to_hf import CT2_METADATA_FILES
from export.errors import InvalidSourceError
from export.sources import Source, SplitWeights, bundled_sources


def _split(tmp_path: Path, *contents: bytes, total: int | None = None) -> SplitWeights:
    parts = []
    for index, content in enumerate(contents, start=1):
        part = tmp_path / f"model.bin.part{index}"
        part.write_bytes(content)
        parts.append(part)
    return SplitWeights(tuple(parts), total if total is not None else sum(map(len, contents)))


def test_parts_are_joined_in_order_into_the_source_directory(tmp_path: Path) -> None:
    metadata = tmp_path / "data"
    metadata.mkdir()
    for name in CT2_METADATA_FILES:
        (metadata / name).write_text("{}")
    source = Source("ct2", metadata, "split", _split(tmp_path, b"abc", b"defg"))
    joined = source.materialize(tmp_path / "joined")
    assert (joined / "model.bin").read_bytes() == b"abcdefg"
    assert sorted(path.name for path in joined.iterdir()) == sorted(["model.bin", *CT2_METADATA_FILES])
    assert source.files[-2:] == list(source.split.parts)  # type: ignore[union-attr]  # both parts are hashed


def test_a_missing_part_is_named(tmp_path: Path) -> None:
    split = _split(tmp_path, b"abc", b"defg")
    split.parts[1].unlink()
    with pytest.raises(InvalidSourceError, match=r"weights part missing: .*model\.bin\.part2"):
        split.check()


def test_a_short_part_is_refused_with_the_byte_counts(tmp_path: Path) -> None:
    split = _split(tmp_path, b"abc", b"de", total=7)
    with pytest.raises(InvalidSourceError, match=r"hold 5 bytes, not the 7 .*model\.bin\.part2 2 bytes"):
        split.join(tmp_path / "model.bin")
    assert not (tmp_path / "model.bin").exists()


def test_the_bundled_base_model_is_two_parts_of_the_documented_size() -> None:
    tiny, base = bundled_sources()
    assert tiny.split is None and tiny.name == "whisper-tiny.en"
    assert base.name == "whisper-base" and base.split is not None
    assert [part.name for part in base.split.parts] == ["model.bin.part1", "model.bin.part2"]
    assert sum(part.stat().st_size for part in base.split.parts) == base.split.total_bytes == 145_217_532


def test_an_unknown_bundled_model_is_refused() -> None:
    with pytest.raises(InvalidSourceError, match="no bundled model whisper-huge"):
        bundled_sources(["whisper-huge"])
