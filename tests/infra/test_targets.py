"""The local VPS builder: another release (trixie) builds, boots and deploys, beside the test VPS
on one Docker network, where the hosts reach each other by name (multi-host later needs that)."""

import testinfra

from targets import vps
from tests.infra.conftest import NETWORK, deploy, phase


def test_trixie_builds_deploys_and_joins_the_network(test_vps, host):
    name = f"{test_vps.name}-trixie"
    try:
        with phase("trixie: image, boot"):
            info = vps.up(name, "trixie", NETWORK)
        peer = testinfra.get_host(f"docker://{name}")
        assert peer.system_info.codename == "trixie"
        assert peer.check_output("systemctl is-system-running") in ("running", "degraded")

        # By name, from the (firewalled) test VPS to the new one: sshd's banner.
        banner = host.check_output(
            f"python3 -c \"import socket; print(socket.create_connection(('{name}', 22), 5).recv(32).decode())\"")
        assert banner.startswith("SSH-2.0-")

        with phase("trixie: deploy x2"):
            first, second = deploy(name), deploy(name)
        assert first.returncode == 0, first.log[-3000:]
        assert second.returncode == 0 and second.changed == [], second.changed or second.log[-3000:]
        assert peer.service("nftables").is_running
    finally:
        vps.down(name)
