"""A second deploy changes nothing and prints no secret. (Bad input stopping a deploy before its
first change: test_bad_input.py, with the whole corpus.)"""

import json
import os
import subprocess
import sys

import pytest

from peakready import ROOT
from peakready.secrets import NAMES
from tests.infra.conftest import phase
from tests.leaks import in_text


@pytest.mark.box
def test_second_deploy_changes_nothing_and_prints_no_secret(test_vps):
    with phase("second deploy"):
        second = test_vps.deploy("-vvv")
    assert second.returncode == 0, second.log[-3000:]
    assert second.failed == []
    assert second.changed == [], f"operations that changed again: {second.changed}"
    assert second.results["totals"]["no_change"] == test_vps.first_deploy.results["totals"]["hosts"]
    assert_no_secret_in(second.log + json.dumps(second.results), test_vps)


def assert_no_secret_in(text: str, target) -> None:
    """Every secret, as it is and percent-encoded (tests/leaks.py); the failure names, never shows, them."""
    secrets = target.secrets()
    assert set(NAMES) <= set(secrets)  # the user apps' own secrets (app:...) too, when they were deployed already
    printed = in_text(text, secrets)
    assert not printed, f"printed by pyinfra -vvv: {sorted(printed)}"


@pytest.mark.box
def test_first_deploy_prints_no_secret(test_vps):
    """The deploy that created every user and password, run with -vvv (all commands and output)."""
    assert "Starting operation" in test_vps.first_deploy.log and ">>>" in test_vps.first_deploy.log
    assert_no_secret_in(test_vps.first_deploy.log + json.dumps(test_vps.first_deploy.results), test_vps)


def test_plan_for_the_inventory_uses_the_vps_own_size(test_vps):
    res = subprocess.run([sys.executable, "-m", "peakready.plan", "--inventory", "inventories/docker.py"],
                         cwd=ROOT, env={**os.environ, "PEAKREADY_VPS": test_vps.name},
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    # targets/vps.py starts it with --cpus 2 --memory 4g: the plan sees that, not this machine's RAM.
    assert f"{test_vps.name} (2 cores, 4.0 GB)" in res.stdout
    assert "verdict     OK" in res.stdout
