"""The code passes the linter the field uses, with the rules pyproject.toml names ([tool.ruff])."""

import subprocess
import sys

from peakready import ROOT


def test_ruff_finds_nothing():
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", str(ROOT)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-1000:]


def test_ruff_would_see_a_mistake(tmp_path):
    """The control: an unused import and an unused `# noqa` are reported under the same rules."""
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nx = 1  # noqa: E501\n")
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
                          "--output-format", "concise", str(bad)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "F401" in res.stdout and "RUF100" in res.stdout, res.stdout
