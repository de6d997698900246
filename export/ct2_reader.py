"""Reader for CTranslate2 `model.bin` files (the layout written by CTranslate2's `_serialize`)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.errors import InvalidSourceError

SUPPORTED_BINARY_VERSIONS = (5, 6)

_DTYPES = {
    0: np.float32,
    1: np.int8,
    2: np.int16,
    3: np.int32,
    4: np.float16,
    5: None,  # bfloat16: numpy has no native type; converted below
}


@dataclass(frozen=True)
class Ct2Model:
    """Variables of a CTranslate2 model, aliases resolved."""

    spec_name: str
    spec_revision: int
    variables: dict[str, np.ndarray]


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self.offset = 0

    def unpack(self, fmt: str) -> int:
        try:
            (value,) = struct.unpack_from(fmt, self._data, self.offset)
        except struct.error as exc:
            raise InvalidSourceError("model.bin is truncated") from exc
        self.offset += struct.calcsize(fmt)
        return int(value)

    def string(self) -> str:
        length = self.unpack("<H")
        raw = self.take(length)
        return raw[:-1].decode("utf-8")

    def take(self, count: int) -> bytes:
        if self.offset + count > len(self._data):
            raise InvalidSourceError("model.bin is truncated")
        chunk = self._data[self.offset : self.offset + count]
        self.offset += count
        return chunk


def _bfloat16_to_float32(raw: bytes) -> np.ndarray:
    halves = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32)
    return (halves << 16).view(np.float32)


def read_ct2_model(model_bin: Path) -> Ct2Model:
    """Parse a CTranslate2 `model.bin` into numpy arrays (float types widened to float32)."""
    cursor = _Cursor(model_bin.read_bytes())
    version = cursor.unpack("<I")
    if version not in SUPPORTED_BINARY_VERSIONS:
        raise InvalidSourceError(
            f"{model_bin}: unsupported CTranslate2 binary version {version} (supported: {SUPPORTED_BINARY_VERSIONS})"
        )
    spec_name = cursor.string()
    spec_revision = cursor.unpack("<I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(cursor.unpack("<I")):
        name = cursor.string()
        shape = tuple(cursor.unpack("<I") for _ in range(cursor.unpack("<B")))
        dtype_id = cursor.unpack("<B")
        raw = cursor.take(cursor.unpack("<I"))
        if dtype_id not in _DTYPES:
            raise InvalidSourceError(f"{model_bin}: unknown dtype id {dtype_id} for {name}")
        dtype = _DTYPES[dtype_id]
        array = _bfloat16_to_float32(raw) if dtype is None else np.frombuffer(raw, dtype=dtype)
        if array.dtype.kind == "f":
            array = array.astype(np.float32)
        variables[name] = array.reshape(shape)
    for _ in range(cursor.unpack("<I")):
        alias, target = cursor.string(), cursor.string()
        variables[alias] = variables[target]
    return Ct2Model(spec_name=spec_name, spec_revision=spec_revision, variables=variables)
