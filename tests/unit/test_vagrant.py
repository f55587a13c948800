"""The Vagrantfile is valid for Vagrant itself (vagrant validate, offline, no box needed). `make vagrant`
brings its box up and tests it (tests/infra/conftest.py, --target vagrant)."""

import shutil
import subprocess

from peakready import ROOT


def validate(directory):
    assert shutil.which("vagrant"), "vagrant is not installed: apt-get install --no-install-recommends vagrant (.ci/run does it)"
    return subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=directory,
                          capture_output=True, text=True, timeout=120)


def test_vagrantfile_validates(tmp_path):
    shutil.copy(ROOT / "Vagrantfile", tmp_path)
    res = validate(tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_a_broken_vagrantfile_does_not(tmp_path):
    text = (ROOT / "Vagrantfile").read_text().replace("config.vm.hostname", "config.vm.hostnme")
    (tmp_path / "Vagrantfile").write_text(text)
    assert validate(tmp_path).returncode != 0
