"""The reference topology (targets/multi.py) for this test run: five fresh local VPSes, deployed
once by the same deploy.py, tested, then removed (their network and the primary promote.py recorded
too). Named peakready-mtest-<pid>, never `make up-multi`'s. Phase timings are printed at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from peakready import ROOT, topology
from targets import multi, vps

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
os.environ.setdefault("PEAKREADY_PROXYSQL_REPOSITORY", "off")
RELEASE = os.environ.get("PEAKREADY_RELEASE", vps.DEFAULT_RELEASE)
DEPLOY_TIMEOUT_S = 1200
TRAFFIC = Path(__file__).with_name("traffic.py")
TIMINGS: dict[str, float] = {}
REPORT: list[str] = []  # the measured figures, printed at the end (and written to .peakready/multi.md)
MOMENTS: dict[str, float] = {}  # when a test changed the topology, for a later one (epoch s)


@dataclass
class Run:
    returncode: int
    log: str
    results: dict | None
    seconds: float

    @property
    def changed(self) -> list[str]:
        return [op["name"] for op in self.results["operations"] if op["success"]]

    @property
    def errors(self) -> str:
        """Each operation that failed on a host, with pyinfra's lines about it (the log's tail shows only
        the later operations, which a failed host skips)."""
        out, current = [], ""
        for line in self.log.splitlines():
            if line.startswith("--> Starting operation"):
                current = line
            elif line.startswith("    [") and "error" in line.lower():
                out += [current, line] if current not in out else [line]
        return "\n".join(out[:60])


@dataclass
class Topology:
    prefix: str
    infos: dict[str, dict]

    def container(self, name: str) -> str:
        return multi.container(self.prefix, name)

    def address(self, name: str) -> str:
        return self.infos[name]["address"]

    def sh(self, name: str, script: str, stdin: str = "", timeout: int = 120) -> str:
        return vps.sh(self.container(name), script, stdin, timeout)

    def run(self, script: str = "deploy.py", *args: str) -> Run:
        """`pyinfra -y --json inventories/docker_multi.py SCRIPT ARGS` against this topology."""
        start = time.monotonic()
        # AIDE's baseline (45 s of a core per host) is proved on the single VPS (tests/infra/test_audit.py);
        # five hosts building theirs at once would add minutes to every run and prove nothing more here.
        args = ("--data", "file_integrity=false", *args)
        res = subprocess.run([PYINFRA, "-y", "--json", *args, "inventories/docker_multi.py", script], cwd=ROOT,
                             env=dict(os.environ, PEAKREADY_MULTI=self.prefix), capture_output=True, text=True,
                             timeout=DEPLOY_TIMEOUT_S)
        try:
            results = json.loads(res.stdout)["results"]
        except (json.JSONDecodeError, KeyError):
            results = None
        return Run(res.returncode, res.stderr, results, time.monotonic() - start)

    def restart(self, name: str) -> None:
        """Start a stopped or killed host again (its published ports change: its state is rewritten)."""
        vps.client().containers.get(self.container(name)).start()
        self.infos[name] = vps.up(self.container(name), RELEASE, self.prefix, *multi.HOSTS[name][1:])

    def traffic(self, seconds: float, budget: int, readers: int, writers: int, stop: str = "") -> subprocess.Popen:
        """Bounded traffic inside lb (traffic.py), running until collected with collect(); or until the
        file `stop` exists in lb, when one is named."""
        if stop:
            self.sh("lb", f"rm -f {stop}")
        return subprocess.Popen(["docker", "exec", "-i", self.container("lb"), "python3", "-", str(seconds), str(budget),
                                 str(readers), str(writers), "127.0.0.1", *([stop] if stop else [])],
                                stdin=open(TRAFFIC), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @staticmethod
    def collect(proc: subprocess.Popen, timeout: float = 300) -> dict:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err
        return json.loads(out)


@pytest.fixture(scope="session")
def topo():
    prefix = f"peakready-mtest-{os.getpid()}"
    state = topology.state_file(f"docker_multi-{prefix}")
    start = time.monotonic()
    vps.ensure_engine()
    vps.vps_image(RELEASE)
    try:
        t = Topology(prefix, multi.up(prefix, RELEASE))
        TIMINGS["containers"] = time.monotonic() - start
        first = t.run("deploy.py")
        TIMINGS["first deploy"] = first.seconds
        (ROOT / ".peakready" / "multi-first-deploy.log").write_text(first.log)
        assert first.returncode == 0 and first.results, f"first deploy failed:\n{first.errors}\n...\n{first.log[-2000:]}"
        REPORT.append(f"multi-host first deploy (5 hosts): {first.seconds:.0f} s")
        yield t
    finally:
        multi.down(prefix)
        state.unlink(missing_ok=True)
        TIMINGS["total"] = time.monotonic() - start


def pytest_terminal_summary(terminalreporter):
    if not TIMINGS:
        return
    terminalreporter.section("multi-host topology")
    for line in REPORT:
        terminalreporter.write_line(line)
    for name, seconds in TIMINGS.items():
        terminalreporter.write_line(f"{name:>22}: {seconds:7.1f} s")
    out = ROOT / ".peakready" / "multi.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(REPORT) + "\n")
