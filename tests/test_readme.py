"""README's layout table names every folder of the repository, and only folders that exist."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tracked_top_level_folders() -> set[str]:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return {name.split("/")[0] for name in files if "/" in name and not name.startswith(".")}


def test_the_layout_table_matches_the_folders() -> None:
    layout = (ROOT / "README.md").read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"^\| `([\w.]+)/`", layout, re.MULTILINE))
    assert named == _tracked_top_level_folders()
