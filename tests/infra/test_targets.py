"""The local VPS builder: another release (trixie) builds, boots and deploys, beside the test VPS
on one Docker network, where the hosts reach each other by name (multi-host later needs that).
It is the smallest VPS the plan supports (1 core, 1 GB), so that plan is deployed for real too, as
the plan asks for that size: without the monitoring (its exporters and Prometheus do not fit beside
one app worker there)."""

import os
import subprocess
import sys

import pytest
import testinfra

from peakready import ROOT
from targets import vps
from tests.infra.conftest import NETWORK, PREPARE, PREPARED, deploy, phase

SMALL = ("--data", "monitoring=false")


def trixie():
    """The trixie VPS, booted and deployed once (in the background while the test VPS deploys)."""
    name = PREPARED.vps(f"peakready-test-{os.getpid()}-trixie")
    with phase("trixie: image, boot"):
        vps.up(name, "trixie", NETWORK, memory="1g", cpus="1")
    with phase("trixie: first deploy"):
        return name, deploy(name, *SMALL)


PREPARE["trixie"] = trixie


@pytest.mark.prepared("trixie")
def test_trixie_builds_deploys_and_joins_the_network(test_vps, host):
    name, first = PREPARED.take("trixie")
    try:
        peer = testinfra.get_host(f"docker://{name}")
        assert peer.system_info.codename == "trixie"
        assert peer.check_output("systemctl is-system-running") in ("running", "degraded")

        # By name, from the (firewalled) test VPS to the new one: sshd's banner.
        banner = host.check_output(
            f"python3 -c \"import socket; print(socket.create_connection(('{name}', 22), 5).recv(32).decode())\"")
        assert banner.startswith("SSH-2.0-")

        assert first.returncode == 0, first.log[-3000:]
        with phase("trixie: second deploy"):
            second = deploy(name, *SMALL)
        assert second.returncode == 0 and second.changed == [], second.changed or second.log[-3000:]
        assert peer.service("nftables").is_running
        assert "(1 core, 1.0 GB)" in subprocess.run(
            [sys.executable, "-m", "peakready.plan", "--inventory", "inventories/docker.py", *SMALL], cwd=ROOT,
            env={**os.environ, "PEAKREADY_VPS": name}, capture_output=True, text=True, timeout=120).stdout
    finally:
        vps.down(name)
