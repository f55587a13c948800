"""A fresh local test VPS for this test run: built, deployed once, tested, removed.

Its name is peakready-test-<pid> (never peakready-vps, which belongs to `make up`). The run's
phases are timed and printed at the end (and written to .peakready/test-timings.json).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import testinfra

from peakready import ROOT
from targets import vps

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
# A test run sends nothing beyond this machine, also when run without make (targets/packages.py).
os.environ.setdefault("PEAKREADY_PROXYSQL_REPOSITORY", "off")
RELEASE = os.environ.get("PEAKREADY_RELEASE", vps.DEFAULT_RELEASE)
NETWORK = "peakready-test"
DEPLOY_TIMEOUT_S = 900
TIMINGS: dict[str, float] = {}
SESSION_START = time.monotonic()


@contextmanager
def phase(name: str):
    start = time.monotonic()
    try:
        yield
    finally:
        TIMINGS[name] = TIMINGS.get(name, 0.0) + time.monotonic() - start


@dataclass
class Deploy:
    returncode: int
    log: str  # pyinfra's stderr: progress, warnings, errors (and with -vvv every command and its output)
    results: dict | None  # pyinfra --json results: per operation, hosts changed / unchanged / failed

    @property
    def changed(self) -> list[str]:
        return [op["name"] for op in self.results["operations"] if op["success"]]

    @property
    def failed(self) -> list[str]:
        return [op["name"] for op in self.results["operations"] if op["error"]]


def deploy(name: str, *args: str, env: dict | None = None, script: str = "deploy.py") -> Deploy:
    """`pyinfra -y --json inventories/docker.py deploy.py` (or another `script`) against the local
    VPS `name`."""
    res = subprocess.run(
        [PYINFRA, "-y", "--json", *args, "inventories/docker.py", script],
        cwd=ROOT, env=dict(os.environ, PEAKREADY_VPS=name, **(env or {})),
        capture_output=True, text=True, timeout=DEPLOY_TIMEOUT_S,
    )
    try:
        results = json.loads(res.stdout)["results"]
    except (json.JSONDecodeError, KeyError):
        results = None
    return Deploy(res.returncode, res.stderr, results)


@dataclass
class TestVps:
    name: str
    info: dict
    first_deploy: Deploy
    host_sysctls_before: dict[str, str]

    @property
    def address(self) -> str:
        return self.info["address"]


# Global kernel keys the deploy must not change on the machine running a container VPS.
GLOBAL_KEYS = ("vm/swappiness", "vm/overcommit_memory", "fs/file-max")


def read_host_sysctls() -> dict[str, str]:
    return {key: Path("/proc/sys", key).read_text().strip() for key in GLOBAL_KEYS}


@pytest.fixture(scope="session")
def test_vps():
    name = f"peakready-test-{os.getpid()}"
    with phase("engine"):
        vps.ensure_engine()
    with phase("image"):
        vps.vps_image(RELEASE)
    try:
        with phase("container"):
            info = vps.up(name, RELEASE, NETWORK)
        before = read_host_sysctls()
        with phase("first deploy"):
            first = deploy(name, "-vvv")  # every command and its output, searched for secrets later
        assert first.returncode == 0 and first.results, f"first deploy failed:\n{first.log[-4000:]}"
        yield TestVps(name, info, first, before)
    finally:
        with phase("teardown"):
            vps.down(name)


@pytest.fixture(scope="session")
def host(test_vps):
    return testinfra.get_host(f"docker://{test_vps.name}")


@pytest.fixture(scope="session")
def knobs():
    from peakready.knobs import defaults
    return defaults()


@pytest.fixture(scope="session")
def plan(test_vps):
    """This VPS's part of the plan, computed from its live facts as the deploy computes it."""
    from peakready.plan import hosts_from_inventory, make_plan

    os.environ["PEAKREADY_VPS"] = test_vps.name
    hosts, knobs = hosts_from_inventory("inventories/docker.py")
    return make_plan(hosts, knobs)[test_vps.name]


def proxysql_or_skip(plan) -> None:
    """Skip a ProxySQL test only where no package is available for the VPS's release
    (targets/packages.py); where one is, ProxySQL must be in the plan, and a skip would hide that."""
    from targets.packages import proxysql_package

    choice = proxysql_package(RELEASE)
    if not choice.enabled:
        pytest.skip(choice.why)
    assert plan.proxysql, f"a package is available ({choice.why}) but the plan has no ProxySQL"


@pytest.fixture(scope="session")
def in_container(host):
    return host.run("systemd-detect-virt --container").rc == 0


def pytest_collection_modifyitems(items):
    """Last, in this order: the secret searches (test_leaks.py), which search what every other test
    left behind (before a reboot could wipe a volatile journal); then the fault suite, which restarts
    the services and, last, the VPS itself."""
    last = {"test_leaks.py": 1, "test_faults.py": 2}
    items.sort(key=lambda item: last.get(item.path.name, 0))  # stable: each keeps its order


def pytest_terminal_summary(terminalreporter):
    this_run = time.time() - (time.monotonic() - SESSION_START)
    for title, path in (("ProxySQL multiplexing", ROOT / ".peakready" / "proxysql-multiplexing.txt"),
                        ("micro-cache staleness", ROOT / ".peakready" / "micro-cache.txt"),
                        ("fault suite", ROOT / ".peakready" / "faults.md")):
        if path.exists() and path.stat().st_mtime > this_run:
            terminalreporter.section(title)
            terminalreporter.write_line(path.read_text())
    if "first deploy" not in TIMINGS:
        return
    total = time.monotonic() - SESSION_START
    TIMINGS["tests"] = total - sum(TIMINGS.values())
    TIMINGS["total"] = total
    terminalreporter.section("phase timings (s)")
    for name, seconds in TIMINGS.items():
        terminalreporter.write_line(f"{name:>22}: {seconds:7.1f}")
    out = ROOT / ".peakready" / "test-timings.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({k: round(v, 1) for k, v in TIMINGS.items()}, indent=2) + "\n")
