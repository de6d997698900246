"""When and by which command a result file was made: the same two fields in every perf/ result."""

from __future__ import annotations

import shlex
import sys
import time


def provenance(module: str, argv: list[str] | None) -> dict[str, str]:
    """`created` (UTC, ISO 8601) and `command` (`python -m module ARGS`, arguments as given or from sys.argv)."""
    arguments = sys.argv[1:] if argv is None else argv
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": shlex.join(["python", "-m", module, *arguments]),
    }
