"""The bad-input corpus (tests/bad_input.py) through the real deploy against the test VPS: every case
stops `pyinfra deploy.py` before its first change.

Each case gets an inventory of its own: a file named docker.py (so the secrets are the VPS's,
.peakready/secrets/docker.json) that takes inventories/docker.py's host and lays the case's data
over it, as a per-host override in an inventory would (and under another name, for the host-name
cases). The cases run a few at a time; then the VPS is compared with what it was before them:
  - no file under / changed (find -newer a marker touched first), but the journal, which records
    the SSH logins, and the data files MariaDB and Redis write by themselves;
  - what the deploy would change first without writing a file is as it was: the kernel settings
    it owns, the firewall, the services' main processes (no restart, no reload of nginx's config).
And for each case: a non-zero exit, the refusal naming the setting, no operation begun (pyinfra's
--json prints no results; "Beginning operation run" never appears), no secret value printed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from peakready import ROOT
from tests.bad_input import CASES, Case
from tests.infra.conftest import PYINFRA, phase

# pyinfra starts, connects and fails in about a second: four at a time keep the run short without
# crowding the VPS's sshd (MaxStartups 10) or this machine's two cores.
CONCURRENCY = 4
CASE_TIMEOUT_S = 120
MARKER = "/root/peakready-bad-input.marker"
# Written by the running services on their own (InnoDB's background flushes, Redis persistence,
# the journal of each SSH login, process accounting of every exit, fail2ban's record of the logins
# it ignores), whatever a deploy does.
QUIET_FILES = re.compile(r"^(/var/log/journal/.*|/var/lib/mysql/(ib_logfile\d+|ibdata\d+|ib_buffer_pool|undo\d+|"
                         r"aria_log\.\d+|aria_log_control|.*\.ibd)|/var/lib/redis/.*|/var/log/(wtmp|btmp|lastlog)|"
                         r"/var/lib/proxysql/(proxysql\.log|proxysql_stats\.db.*)|/var/log/account/pacct|"
                         r"/var/lib/fail2ban/fail2ban\.sqlite3|/var/log/fail2ban\.log|"
                         # Prometheus appends its samples to its write-ahead log between scrapes.
                         r"/var/lib/prometheus/metrics2/.*|"
                         # The directory itself: its mtime moves when the stats database's journal
                         # comes and goes (ProxySQL writes its stats history every minute).
                         r"/var/lib/proxysql)$")
SERVICES = ("mariadb", "redis-server", "nginx", "peakready-app", "ssh", "proxysql")

WRAPPER = """# A bad-input case (tests/infra/test_bad_input.py): the local VPS with {case!r}'s data.
import runpy

_name, _data = runpy.run_path({inventory!r})["_host"][0]
_host = [({host} or _name, {{**_data, **{data!r}}})]
web_servers = _host
app_servers = _host
db_primary = _host
cache_servers = _host
sample_app = _host  # the sample app's settings (group_data/sample_app.py), as inventories/docker.py gives them
"""


@dataclass
class Run:
    case: Case
    returncode: int
    stdout: str
    stderr: str


def run_case(case: Case, vps_name: str, directory) -> Run:
    directory.mkdir()
    inventory = directory / "docker.py"
    inventory.write_text(WRAPPER.format(case=case.name, inventory=str(ROOT / "inventories" / "docker.py"),
                                        host=repr(case.host), data=case.host_data(directory)))
    # The most verbose output where a value must not show: every command and its output.
    verbosity = ["-vvv"] if case.never_printed else []
    res = subprocess.run([PYINFRA, "-y", "--json", *verbosity, str(inventory), "deploy.py"], cwd=ROOT,
                         env={**os.environ, "PEAKREADY_VPS": vps_name, **case.env},
                         capture_output=True, text=True, timeout=CASE_TIMEOUT_S)
    return Run(case, res.returncode, res.stdout, res.stderr)


def vps_state(host) -> dict[str, str]:
    """What a deploy changes without writing a file first: sysctls it owns, nftables, services."""
    keys = [line.split("=")[0].strip() for line in
            host.check_output("cat /etc/sysctl.d/60-peakready.conf").splitlines() if "=" in line and line[0] != "#"]
    state = {key: host.check_output(f"sysctl -n {key}") for key in keys}
    state["nftables"] = host.check_output("nft list ruleset | sha256sum")
    for unit in SERVICES:
        state[unit] = host.check_output(f"systemctl show -p MainPID -p ActiveState -p ExecMainStartTimestamp {unit}")
    return state


@pytest.fixture(scope="module")
def corpus(test_vps, host, tmp_path_factory):
    with phase("bad-input corpus"):
        return run_corpus(test_vps.name, host, tmp_path_factory.mktemp("bad-input"))


def run_corpus(vps_name: str, host, base) -> dict:
    """Every case once, CONCURRENCY at a time, between two looks at the VPS."""
    before = vps_state(host)
    host.run_expect([0], f"touch {MARKER} && sleep 1")  # -newer compares mtimes: one second apart
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        runs = list(pool.map(lambda c: run_case(c, vps_name, base / c.id), CASES))
    changed = host.check_output(
        "find / -xdev \\( -path /proc -o -path /sys -o -path /run -o -path /dev \\) -prune "
        f"-o -newer {MARKER} -print").splitlines()
    host.run_expect([0], f"rm -f {MARKER}")
    return {"runs": {r.case.name: r for r in runs}, "changed": changed, "before": before,
            "after": vps_state(host)}


def test_the_corpus_changed_nothing_on_the_vps(corpus):
    changed = [path for path in corpus["changed"] if not QUIET_FILES.match(path) and path != MARKER]
    assert changed == [], f"files changed while bad input was refused: {changed[:20]}"
    assert corpus["after"] == corpus["before"]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_stops_the_deploy_before_its_first_change(corpus, case):
    run = corpus["runs"][case.name]
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-2000:]
    refusal = [line for line in run.stderr.splitlines() if line.startswith("--> pyinfra error")]
    assert len(refusal) == 1, run.stderr[-2000:]
    for word in case.words:
        assert word in refusal[0], refusal[0]
    # No operation ran: pyinfra never began the run, and its --json printed no results.
    assert "Beginning operation run" not in output and "Starting operation" not in output
    if run.stdout.strip():
        assert not json.loads(run.stdout).get("results", {}).get("operations")
    if case.never_printed:
        assert case.never_printed not in output
