"""Every unit the bundle writes or puts drop-ins on is sandboxed: `systemd-analyze security` rates it
MEDIUM or better, and the running services really run in that sandbox (the unit file alone proves
nothing about a process started before it). docs/security.md has the numbers, before and after.

ProxySQL's unit is checked where ProxySQL runs (a package is available for the VPS's release).
"""

import re

import pytest

from peakready import services
from tests.infra.conftest import proxysql_or_skip

# systemd-analyze security's verdicts, best first. MEDIUM is the worst one accepted here, and
# 6.9 the highest exposure accepted (of 10).
ACCEPTED = ("PERFECT", "SAFE", "OK", "MEDIUM")
MAX_EXPOSURE = 6.9
# Distro units peakready sandboxes with a drop-in, and the paths each may write.
DROPINS = {"nginx": ("/var/log/nginx", "/etc/nginx"), "mariadb": ("/var/lib/mysql", "/etc/mysql"),
           "proxysql": ("/var/lib/proxysql", "/etc")}


# Every service of the table that has a unit (the exporters and Prometheus: Debian's, each under
# the shared sandbox of its drop-in), and the backup's.
IDS = ["backup", *services.UNITS]


def units(knobs) -> dict[str, str]:
    return {"backup": "peakready-mariadb-backup.service",
            **{name: services.unit_file(name, knobs["app_name"]) for name in services.UNITS}}


def skip_without_proxysql(plan, service: str) -> None:
    if service.startswith("proxysql"):
        proxysql_or_skip(plan)


def exposure(host, unit: str) -> tuple[float, str]:
    out = host.check_output(f"systemd-analyze security --no-pager {unit}")
    match = re.search(rf"Overall exposure level for {re.escape(unit)}: (\d+(?:\.\d+)?) ([A-Z]+)", out)
    assert match, f"no overall exposure line for {unit}:\n{out[-500:]}"
    return float(match.group(1)), match.group(2)


@pytest.mark.box
@pytest.mark.parametrize("name", IDS)
def test_unit_exposure_is_medium_or_better(host, knobs, plan, name):
    unit = units(knobs)[name]
    skip_without_proxysql(plan, unit)
    value, verdict = exposure(host, unit)
    print(f"{unit}: {value} {verdict}")
    assert value <= MAX_EXPOSURE and verdict in ACCEPTED, f"{unit}: exposure {value} {verdict}"


def test_exposure_parser_reads_what_systemd_analyze_prints(host):
    """The control: a unit with no sandbox at all is rated high and read as such."""
    unsafe = "peakready-exposure-probe.service"
    host.run_expect([0], f"printf '[Service]\\nExecStart=/bin/true\\n' > /run/systemd/system/{unsafe}"
                         " && systemctl daemon-reload")
    try:
        value, verdict = exposure(host, unsafe)
        assert value > MAX_EXPOSURE and verdict not in ACCEPTED
    finally:
        host.run(f"rm -f /run/systemd/system/{unsafe} && systemctl daemon-reload")


def main_pid(host, service: str) -> str:
    pid = host.check_output(f"systemctl show -p MainPID --value {service}")
    assert pid != "0", f"{service} is not running"
    return pid


@pytest.mark.box
@pytest.mark.parametrize("name", services.UNITS)
def test_the_running_service_is_in_its_sandbox(host, knobs, plan, name):
    service = services.unit_file(name, knobs["app_name"]).removesuffix(".service")
    skip_without_proxysql(plan, service)
    pid = main_pid(host, service)
    status = dict(line.split(":\t", 1) for line in host.check_output(f"cat /proc/{pid}/status").splitlines()
                  if ":\t" in line)
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Seccomp"].strip() == "2", "a system call filter is loaded"
    assert host.check_output(f"readlink /proc/{pid}/ns/mnt") != host.check_output("readlink /proc/1/ns/mnt")


@pytest.mark.parametrize("service", DROPINS)
def test_a_sandboxed_distro_service_writes_only_its_own_paths(host, plan, service):
    """Seen from inside the running service's mount namespace: its config is read-only, its data not."""
    skip_without_proxysql(plan, service)
    writable, config = DROPINS[service]
    pid = main_pid(host, service)
    probe = "peakready-sandbox-probe"
    inside = f"nsenter --target {pid} --mount --"
    try:
        denied = host.run(f"{inside} touch {config}/{probe}")
        assert denied.rc != 0 and "Read-only file system" in denied.stderr, denied.stderr
        assert not host.file(f"{config}/{probe}").exists
        host.run_expect([0], f"{inside} touch {writable}/{probe}")
    finally:
        host.run(f"rm -f {config}/{probe} {writable}/{probe}")
