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


def mypy(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    # No cache: a stale one could hide an error, and a fresh run takes a few seconds.
    return subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", "/dev/null", "--config-file",
                           str(ROOT / "pyproject.toml"), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_mypy_finds_nothing_in_the_bundle():
    """The type checker over peakready/ ([tool.mypy] names it), bodies of unannotated functions too."""
    res = mypy()
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-1000:]
    assert "Success" in res.stdout, res.stdout


def test_mypy_would_see_a_mistake(tmp_path):
    """The control: a plan part that may be missing, used without asking, inside a function with no
    annotations (check_untyped_defs), is reported under the same settings."""
    bad = tmp_path / "bad.py"
    bad.write_text("from peakready.plan import HostPlan, HostFacts\n\n\n"
                   "def workers():\n    return HostPlan(host=HostFacts('h', 1, 1024)).app.workers\n")
    res = mypy(str(bad))
    assert res.returncode == 1 and "union-attr" in res.stdout, res.stdout
