"""A second deploy changes nothing; bad input stops a deploy before its first change."""

import pytest

from tests.infra.conftest import deploy, phase


def test_second_deploy_changes_nothing(test_vps):
    with phase("second deploy"):
        second = deploy(test_vps.name)
    assert second.returncode == 0, second.log[-3000:]
    assert second.failed == []
    assert second.changed == [], f"operations that changed again: {second.changed}"
    assert second.results["totals"]["no_change"] == test_vps.first_deploy.results["totals"]["hosts"]


@pytest.mark.parametrize("data,knob", [
    ("vm_swappiness=500", "knob vm_swappiness"),
    ("sshd_port=2222", "knob sshd_port = 2222 but sshd"),
    ("firewal=false", "unknown knob 'firewal'"),
])
def test_bad_knob_stops_before_the_first_change(test_vps, data, knob):
    res = deploy(test_vps.name, "--data", data)
    assert res.returncode != 0
    assert knob in res.log
    assert "Beginning operation run" not in res.log and "Starting operation" not in res.log
