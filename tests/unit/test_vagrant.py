"""The Vagrantfile is valid for Vagrant itself (vagrant validate, offline, no box needed)."""

import shutil
import subprocess

import pytest

from peakready import ROOT

pytestmark = pytest.mark.skipif(
    shutil.which("vagrant") is None,
    reason="vagrant is not installed (apt-get install --no-install-recommends vagrant): Vagrantfile not validated",
)


def validate(directory):
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
