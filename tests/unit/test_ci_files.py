"""CI's own files: the GitHub workflow passes actionlint (its wheel ships the binary, no download),
and every shell script of the repository passes shellcheck, the templated ones as the roles render
them and the one targets/pebble.py starts Pebble with. Each check is shown to fail on a file with the mistake it exists for."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from peakready import ROOT
from peakready.render import render

ACTIONLINT = str(Path(sys.executable).with_name("actionlint"))
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SCRIPTS = [ROOT / ".ci" / "run", *sorted(ROOT.glob("bench/**/*.sh"))]
TEMPLATED = ("mariadb/peakready-mariadb-backup.sh.j2", "mariadb/peakready-mariadb-restore.sh.j2",
             "base/shell-timeout.sh.j2", "base/coredump-profile.sh.j2")  # the last two: sourced by /etc/profile
CONTEXT = {"backup_dir": "/var/backups/mariadb", "db": "peakready", "retention_days": 7, "timeout_s": 900}


def actionlint(*paths) -> subprocess.CompletedProcess:
    return subprocess.run([ACTIONLINT, "-no-color", *map(str, paths)], capture_output=True, text=True, timeout=60)


def test_the_workflow_passes_actionlint():
    assert WORKFLOWS
    res = actionlint(*WORKFLOWS)
    assert res.returncode == 0, res.stdout + res.stderr


def test_actionlint_refuses_an_action_on_a_removed_runtime(tmp_path):
    old = tmp_path / "old.yml"
    old.write_text("on: push\njobs:\n  t:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: actions/checkout@v4\n")
    res = actionlint(old)
    assert res.returncode != 0 and "node20" in res.stdout


@pytest.fixture(scope="module")
def shellcheck():
    found = shutil.which("shellcheck")
    assert found, "shellcheck is not installed: apt-get install shellcheck (`make tools` does it)"
    return found


def test_every_shell_script_passes_shellcheck(shellcheck, tmp_path):
    from targets.pebble import START

    rendered = []
    for template in TEMPLATED:
        path = tmp_path / Path(template).stem
        path.write_text(render(template, **CONTEXT))
        rendered.append(path)
    # The script Pebble's container starts with (sh -c), from targets/pebble.py.
    rendered.append(tmp_path / "pebble-start.sh")
    rendered[-1].write_text("#!/bin/sh\n" + START)
    res = subprocess.run([shellcheck, *map(str, SCRIPTS + rendered)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout


def test_shellcheck_refuses_an_unquoted_variable(shellcheck, tmp_path):
    bad = tmp_path / "bad.sh"
    bad.write_text('#!/bin/sh\nrm -rf $1/data\n')
    assert subprocess.run([shellcheck, str(bad)], capture_output=True, timeout=60).returncode != 0
