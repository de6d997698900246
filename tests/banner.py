"""Reading the how-to-call-me banner that `make serve`'s commands print."""

from __future__ import annotations

from typing import IO


def banner_line(stream: IO[str] | None, prefix: str) -> str:
    """The first printed line starting with `prefix` (stripped); fails with everything printed before it."""
    assert stream is not None
    printed = []
    for line in stream:
        printed.append(line)
        if line.strip().startswith(prefix):
            return line.strip()
    raise AssertionError(f"no line starting with {prefix!r} in:\n{''.join(printed)}")
