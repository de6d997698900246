"""Batches whose rows cannot all run as one: encoder windows of different widths run as one batch per width."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

Key = TypeVar("Key", bound=Hashable)


def rows_by_key(keys: Sequence[Key]) -> dict[Key, list[int]]:
    """The row numbers of each key, keys in order of first appearance, rows in order."""
    groups: dict[Key, list[int]] = {}
    for row, key in enumerate(keys):
        groups.setdefault(key, []).append(row)
    return groups
