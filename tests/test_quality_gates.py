"""The project's own semgrep rules fire on the mistakes they exist for (and `make security` runs them on the code)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / ".semgrep" / "rules.yml"
SEMGREP = ROOT / ".run" / "tools" / "semgrep" / "bin" / "semgrep"  # made by `make security`
VIOLATIONS = {
    "yaml-unsafe-load": "import yaml\nyaml.load(data)\n",
    "subprocess-shell": "import subprocess\nsubprocess.run(command, shell=True)\n",
    "pickle-load": "import pickle\npickle.loads(blob)\n",
    "gateway-logs-no-content": "log.info('transcript %s', served.text)\nlog.debug('headers %s', request.headers)\n",
    "gateway-writes-no-files": "open('/tmp/upload', 'wb').write(form.audio)\n",
}


def test_each_rule_flags_its_violation(tmp_path: Path) -> None:
    gateway = tmp_path / "gateway"
    gateway.mkdir()
    for rule, code in VIOLATIONS.items():
        (gateway / f"{rule.replace('-', '_')}.py").write_text(code)
    assert SEMGREP.is_file(), "semgrep is installed by `make security` (its own venv)"
    result = subprocess.run(
        [str(SEMGREP), "scan", "--config", str(RULES), "--metrics=off", "--disable-version-check", "--json", "gateway"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "SEMGREP_ENABLE_VERSION_CHECK": "0"},
        timeout=300,
    )
    found = {r["check_id"].rsplit(".", 1)[-1] for r in json.loads(result.stdout)["results"]}
    assert found == set(VIOLATIONS)
