"""A second deploy changes nothing and prints no secret; bad input stops a deploy before its first
change (proved on a host put out of line first, which a real deploy would have put back)."""

import json
import os
import subprocess
import sys

import pytest

from peakready import ROOT
from peakready.secrets import DIRECTORY, NAMES
from tests.infra.conftest import deploy, phase
from tests.leaks import Redacted, in_text


def test_second_deploy_changes_nothing_and_prints_no_secret(test_vps):
    with phase("second deploy"):
        second = deploy(test_vps.name, "-vvv")
    assert second.returncode == 0, second.log[-3000:]
    assert second.failed == []
    assert second.changed == [], f"operations that changed again: {second.changed}"
    assert second.results["totals"]["no_change"] == test_vps.first_deploy.results["totals"]["hosts"]
    assert_no_secret_in(second.log + json.dumps(second.results))


def assert_no_secret_in(text: str) -> None:
    """Every secret, as it is and percent-encoded (tests/leaks.py); the failure names, never shows, them."""
    secrets = Redacted(json.loads((DIRECTORY / "docker.json").read_text()))
    assert set(secrets) == set(NAMES)
    printed = in_text(text, secrets)
    assert not printed, f"printed by pyinfra -vvv: {sorted(printed)}"


def test_first_deploy_prints_no_secret(test_vps):
    """The deploy that created every user and password, run with -vvv (all commands and output)."""
    assert "Starting operation" in test_vps.first_deploy.log and ">>>" in test_vps.first_deploy.log
    assert_no_secret_in(test_vps.first_deploy.log + json.dumps(test_vps.first_deploy.results))


SOMAXCONN_OUT_OF_LINE = 1024


@pytest.fixture
def out_of_line(host, test_vps, knobs):
    """Undo two things the deploy owns; a good deploy afterwards must put both back."""
    host.run_expect([0], f"sysctl -w net.core.somaxconn={SOMAXCONN_OUT_OF_LINE} >/dev/null && "
                         "mv /etc/sysctl.d/60-peakready.conf /root/60-peakready.conf.moved")
    yield
    restore = deploy(test_vps.name)
    assert restore.returncode == 0 and len(restore.changed) == 2, restore.changed
    assert int(host.check_output("sysctl -n net.core.somaxconn")) == knobs["somaxconn"]


BAD_INPUT = {
    "a knob out of range": ({}, ["--data", "vm_swappiness=500"], "knob vm_swappiness"),
    "a firewall that would lock us out": ({}, ["--data", "sshd_port=2222"], "knob sshd_port = 2222 but sshd"),
    "root logins off while the deploy logs in as root": ({}, ["--data", "sshd_permit_root_login=no"],
                                                         "knob sshd_permit_root_login = 'no' but pyinfra logs in"),
    "password logins off while the deploy logs in with one": (
        {}, ["--data", "ssh_password=peakready-test-not-a-secret"],
        "knob sshd_password_authentication = False but pyinfra logs in"),
    "an unknown knob": ({}, ["--data", "firewal=false"], "unknown knob 'firewal'"),
    "an impossible plan": ({}, ["--data", "app_workers=40"], "lower app_workers"),
    "an empty secret": ({"PEAKREADY_SECRET_REDIS_APP_PASSWORD": ""}, [],
                        "PEAKREADY_SECRET_REDIS_APP_PASSWORD is set but empty"),
    "a buffer pool bigger than the host": ({}, ["--data", "mariadb_buffer_pool_mb=8000"],
                                           "lower mariadb_buffer_pool_mb"),
    "a maxmemory bigger than the host": ({}, ["--data", "redis_maxmemory_mb=8000"], "lower redis_maxmemory_mb"),
    "an eviction policy Redis does not know": ({}, ["--data", "redis_maxmemory_policy=allkeys-newest"],
                                               "knob redis_maxmemory_policy"),
}


@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_stops_before_the_first_change(test_vps, host, out_of_line, case):
    env, args, message = BAD_INPUT[case]
    res = deploy(test_vps.name, *args, env=env)
    assert res.returncode != 0
    assert message in res.log
    assert "Starting operation" not in res.log
    # Nothing on the host changed: what the deploy would have fixed is still out of line.
    assert int(host.check_output("sysctl -n net.core.somaxconn")) == SOMAXCONN_OUT_OF_LINE
    assert not host.file("/etc/sysctl.d/60-peakready.conf").exists


def test_plan_for_the_inventory_uses_the_vps_own_size(test_vps):
    res = subprocess.run([sys.executable, "-m", "peakready.plan", "--inventory", "inventories/docker.py"],
                         cwd=ROOT, env={**os.environ, "PEAKREADY_VPS": test_vps.name},
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    # targets/vps.py starts it with --cpus 2 --memory 4g: the plan sees that, not this machine's RAM.
    assert f"{test_vps.name} (2 cores, 4.0 GB)" in res.stdout
    assert "verdict     OK" in res.stdout
