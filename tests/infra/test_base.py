"""The base role, proved on the live VPS: kernel settings, firewall, time, updates, packages."""

import json
import socket

import pytest

from peakready.roles.base import ROLE_PACKAGES

NET_KEYS = {
    "net.core.somaxconn": "somaxconn",
    "net.ipv4.tcp_max_syn_backlog": "tcp_max_syn_backlog",
    "net.ipv4.ip_local_port_range": "ip_local_port_range",
}


@pytest.mark.box
@pytest.mark.parametrize("key", NET_KEYS)
def test_network_sysctls_are_live(host, knobs, key):
    live = " ".join(host.check_output(f"sysctl -n {key}").split())
    assert live == str(knobs[NET_KEYS[key]])


@pytest.mark.box
def test_global_sysctls_set_on_a_vm_left_to_the_host_in_a_container(host, knobs, in_container, test_vps):
    from tests.infra.conftest import read_host_sysctls

    persisted = host.file("/etc/sysctl.d/60-peakready.conf").content_string
    if in_container:
        # Not applied, not even at the container's next boot: they would change this machine.
        assert f"\n# vm.swappiness = {knobs['vm_swappiness']}" in persisted
        assert read_host_sysctls() == test_vps.host_sysctls_before
        warned = [line for line in test_vps.first_deploy.log.splitlines() if "belong to the kernel" in line]
        assert len(warned) == 1, "the deploy says once that it leaves global keys alone"
    else:
        assert int(host.check_output("sysctl -n vm.swappiness")) == knobs["vm_swappiness"]
        assert int(host.check_output("sysctl -n vm.overcommit_memory")) == knobs["vm_overcommit_memory"]
        assert int(host.check_output("sysctl -n fs.file-max")) >= knobs["file_max_min"]
        assert f"\nvm.swappiness = {knobs['vm_swappiness']}" in persisted


def accepted_tcp_ports(ruleset: dict) -> set[int]:
    """TCP destination ports the input chain of table inet peakready accepts."""
    ports: set[int] = set()
    for item in ruleset["nftables"]:
        rule = item.get("rule")
        if not rule or rule["chain"] != "input" or not any("accept" in e for e in rule["expr"]):
            continue
        for expr in rule["expr"]:
            match = expr.get("match", {})
            if match.get("left", {}).get("payload", {}).get("field") == "dport" and \
                    match["left"]["payload"].get("protocol") == "tcp":
                right = match["right"]
                ports |= set(right["set"]) if isinstance(right, dict) else {right}
    return ports


@pytest.mark.box
def test_firewall_ruleset_admits_exactly_ssh_http_https(host, knobs):
    ruleset = json.loads(host.check_output("nft -j list table inet peakready"))
    chains = [i["chain"] for i in ruleset["nftables"] if "chain" in i]
    assert [(c["name"], c["hook"], c["policy"]) for c in chains] == [("input", "input", "drop")]
    assert accepted_tcp_ports(ruleset) == {knobs["sshd_port"], *knobs["firewall_tcp_ports"]} == {22, 80, 443}
    assert host.service("nftables").is_enabled and host.service("nftables").is_running


def reachable(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def listeners(host):
    """Throwaway HTTP listeners inside the VPS on an open and a closed port; ended by PID after."""
    pids = [host.check_output(
        f"setsid python3 -m http.server {port} --bind 0.0.0.0 >/dev/null 2>&1 & echo $!") for port in (80, 8081)]
    host.run_expect([0], "for i in $(seq 50); do ss -Hltn | grep -q ':8081 ' && ss -Hltn | grep -q ':80 ' "
                         "&& exit 0; sleep 0.1; done; exit 1")
    yield
    host.run(f"kill {' '.join(pids)}")


def test_firewall_from_outside_only_the_open_ports_answer(host, test_vps, listeners):
    # Traffic only to our own container's address, read from docker inspect by targets/vps.py.
    assert reachable(test_vps.address, 22)
    assert reachable(test_vps.address, 80)
    assert not reachable(test_vps.address, 8081), "a port outside the list answered from outside"
    assert host.run("curl -s -o /dev/null http://127.0.0.1:8081/").rc == 0, "the listener itself is up"


@pytest.mark.box
def test_clock_sync_enabled_and_running_where_the_host_owns_its_clock(host, in_container):
    timesyncd = host.service("systemd-timesyncd")
    assert timesyncd.is_enabled
    if in_container:
        # systemd's own condition (ConditionVirtualization=!container): the clock is the host's.
        assert host.check_output("systemctl show -p ConditionResult --value systemd-timesyncd") == "no"
        print("container: systemd-timesyncd enabled but skipped by its unit condition; the host keeps the clock")
    else:
        assert timesyncd.is_running


@pytest.mark.box
def test_timezone(host, knobs):
    assert host.check_output("readlink -f /etc/localtime") == \
        host.check_output(f"readlink -f /usr/share/zoneinfo/{knobs['timezone']}")


@pytest.mark.box
def test_security_updates_are_automatic(host):
    assert 'APT::Periodic::Unattended-Upgrade "1";' in host.check_output("apt-config dump")
    assert host.service("apt-daily-upgrade.timer").is_enabled
    assert host.service("apt-daily-upgrade.timer").is_running
    # What unattended-upgrade itself would install from: the security archive among its origins.
    out = host.run("unattended-upgrade --dry-run -d 2>&1 | grep -m1 'Allowed origins are'")
    assert "label=Debian-Security" in out.stdout, out.stdout


@pytest.mark.box
def test_base_packages_installed(host, knobs):
    for package in ROLE_PACKAGES + knobs["base_packages"]:
        assert host.package(package).is_installed, package


@pytest.mark.box
def test_swap_file_only_where_the_host_owns_its_memory(host, in_container, knobs):
    small = int(host.check_output("awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo")) < knobs["swap_when_ram_below_mb"]
    if in_container or not small:
        assert not host.file("/swapfile").exists
    else:
        assert "/swapfile" in host.file("/proc/swaps").content_string
