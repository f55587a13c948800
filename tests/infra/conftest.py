"""A fresh local test VPS for this test run: built, deployed once, tested, removed.

Its name is peakready-test-<pid> (never peakready-vps, which belongs to `make up`). The run's
phases are timed and printed at the end (and written to .peakready/test-timings.json).

`--target vagrant` runs the tests marked `box` against the Vagrantfile's box instead, as a user
would: `vagrant up`, `pyinfra inventories/vagrant.py deploy.py`, testinfra over `vagrant ssh-config`,
a second deploy that changes nothing, `vagrant destroy -f`. The provider is VAGRANT_DEFAULT_PROVIDER
(docker when unset: the local VPS image, no hypervisor and no box download).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import testinfra

from peakready import ROOT
from peakready.secrets import DIRECTORY
from targets import vps
from tests.leaks import Redacted

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
# A test run sends nothing beyond this machine, also when run without make (targets/packages.py).
os.environ.setdefault("PEAKREADY_PROXYSQL_REPOSITORY", "off")
RELEASE = os.environ.get("PEAKREADY_RELEASE", vps.DEFAULT_RELEASE)
NETWORK = "peakready-test"
DEPLOY_TIMEOUT_S = 900
TIMINGS: dict[str, float] = {}
BACKGROUND_TIMINGS: dict[str, float] = {}  # phases run beside others (Prepared): not part of the sum
SESSION_START = time.monotonic()


@contextmanager
def phase(name: str):
    start = time.monotonic()
    timings = TIMINGS if threading.current_thread() is threading.main_thread() else BACKGROUND_TIMINGS
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.monotonic() - start


class Prepared:
    """The other VPSes some modules need (the trixie one, the user apps'), started and deployed a
    first time in the background while the test VPS's own first deploy runs. A deploy spends most
    of its time waiting (downloads, dpkg, services starting): the multi suite deploys five hosts at
    once in about the time of one. A module registers how to make its VPS (PREPARE) and marks its
    tests `prepared(key)`; only what the selected tests need is started. A key in LATER is started in
    a second wave, once that first pile of deploys is done, so that its deploy runs beside the tests
    (which leave a core idle much of the time) and not as one more in the pile; its module runs
    late. Each module takes its VPS (waiting for it if needed, or making it then and there) and
    removes it; whatever is left at the end of the session is removed too."""

    def __init__(self):
        self.pool: ThreadPoolExecutor | None = None
        self.jobs: dict[str, Future] = {}
        self.taken_keys: set[str] = set()  # made already (a module that ran before the test VPS made its own)
        self.names: set[str] = set()  # every VPS a job made, removed at the end in any case
        self.piled = threading.Event()  # the test VPS's first deploy is over (or the session is)
        self.closing = False

    def start(self, keys: set[str]) -> None:
        keys = keys - self.taken_keys
        if keys:
            self.pool = ThreadPoolExecutor(max_workers=len(keys), thread_name_prefix="prepared")
            self.jobs = {key: self.pool.submit(PREPARE[key]) for key in sorted(keys - LATER)}
            first = list(self.jobs.values())
            self.jobs.update({key: self.pool.submit(self.after, first, PREPARE[key]) for key in sorted(keys & LATER)})

    def after(self, first: list[Future], make: Callable[[], Any]) -> Any:
        """A second-wave job: `make` once the test VPS's first deploy and the first wave are done."""
        self.piled.wait()
        wait(first)
        if self.closing:
            return None
        return make()

    def pile_done(self) -> None:
        self.piled.set()

    def take(self, key: str) -> Any:
        self.taken_keys.add(key)
        job = self.jobs.pop(key, None)
        return job.result() if job else PREPARE[key]()

    @contextmanager
    def taken(self, key: str, name: str):
        """A module's fixture body: what the job `key` made (see take), then its VPS `name` removed."""
        try:
            yield self.take(key)
        finally:
            with phase("teardown"):
                vps.down(name)

    def vps(self, name: str) -> str:
        """Called by a job for the VPS it makes."""
        self.names.add(name)
        return name

    def close(self) -> None:
        self.closing = True
        self.piled.set()
        if self.pool:
            self.pool.shutdown(wait=True, cancel_futures=True)
        for name in self.names:
            with suppress(vps.VpsError):
                vps.down(name)


PREPARE: dict[str, Callable[[], Any]] = {}
LATER: set[str] = set()  # PREPARE keys started in the second wave (Prepared)
PREPARED = Prepared()
WANTED: set[str] = set()  # the keys the selected tests are marked `prepared` with


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


def deploy(name: str, *args: str, env: dict | None = None, script: str = "deploy.py",
           inventory: str = "inventories/docker.py", cwd: Path = ROOT) -> Deploy:
    """`pyinfra -y --json inventories/docker.py deploy.py` (or another `script`) against the local
    VPS `name` (or another `inventory`), from this checkout (or the checkout `cwd`: pyinfra imports
    the bundle from the directory it runs in)."""
    res = subprocess.run(
        [PYINFRA, "-y", "--json", *args, inventory, script],
        cwd=cwd, env=dict(os.environ, PEAKREADY_VPS=name, **(env or {})),
        capture_output=True, text=True, timeout=DEPLOY_TIMEOUT_S,
    )
    try:
        results = json.loads(res.stdout)["results"]
    except (json.JSONDecodeError, KeyError):
        results = None
    return Deploy(res.returncode, res.stderr, results)


@dataclass
class TestVps:
    name: str  # the container's, and the host's in inventories/docker.py
    info: dict
    first_deploy: Deploy
    host_sysctls_before: dict[str, str]
    inventory = "inventories/docker.py"

    @property
    def address(self) -> str:
        return self.info["address"]

    def deploy(self, *args: str, env: dict | None = None) -> Deploy:
        return deploy(self.name, *args, env=env, inventory=self.inventory)

    def secrets(self) -> Redacted:
        """The secrets the deploys of this inventory generated (a failure names, never shows, them)."""
        return Redacted(json.loads((DIRECTORY / f"{Path(self.inventory).stem}.json").read_text()))


@dataclass
class VagrantBox(TestVps):
    """The Vagrantfile's box, which tests marked `box` also run against (--target vagrant)."""
    inventory = "inventories/vagrant.py"
    ssh_config: Path | None = None
    container: str = ""  # the Docker provider's container, to check that `vagrant destroy` removed it


# Global kernel keys the deploy must not change on the machine running a container VPS.
GLOBAL_KEYS = ("vm/swappiness", "vm/overcommit_memory", "fs/file-max")


def read_host_sysctls() -> dict[str, str]:
    return {key: Path("/proc/sys", key).read_text().strip() for key in GLOBAL_KEYS}


TARGETS = ("docker", "vagrant")
VAGRANT_MACHINE = "peakready"  # config.vm.define in the Vagrantfile
VAGRANT_TIMEOUT_S = 600


def pytest_addoption(parser):
    parser.addoption("--target", choices=TARGETS, default="docker",
                     help="docker: a fresh local test VPS, every test (default); vagrant: the Vagrantfile's "
                          "box (VAGRANT_DEFAULT_PROVIDER, docker when unset), the tests marked `box`")


def pytest_configure(config):
    config.addinivalue_line("markers", "box: also runs against the Vagrant box (--target vagrant): the test needs "
                                       "only testinfra's host, the plan, the knobs and the target's deploy")
    config.addinivalue_line("markers", "prepared(key): needs the VPS PREPARE[key] makes, which is started in the "
                                       "background while the test VPS is deployed (Prepared)")


VAGRANT_PROVIDER = os.environ.get("VAGRANT_DEFAULT_PROVIDER") or "docker"


def vagrant(*args: str, timeout: int = VAGRANT_TIMEOUT_S, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(["vagrant", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                         env=dict(os.environ, VAGRANT_DEFAULT_PROVIDER=VAGRANT_PROVIDER))
    assert not check or res.returncode == 0, f"vagrant {' '.join(args)} failed:\n{(res.stdout + res.stderr)[-3000:]}"
    return res


def vagrant_state() -> str:
    """The box's state as `vagrant status` gives it: not_created, running, stopped..."""
    for line in vagrant("status", "--machine-readable", VAGRANT_MACHINE, timeout=120).stdout.splitlines():
        fields = line.split(",", 3)
        if len(fields) == 4 and fields[2] == "state":
            return fields[3]
    return "unknown"


def vagrant_box():
    """`vagrant up` -> the first deploy through pyinfra's @vagrant connector -> (the tests) ->
    `vagrant destroy -f`, then nothing of the box may be left running."""
    assert shutil.which("vagrant"), ("vagrant is not installed: `apt-get install --no-install-recommends vagrant` "
                                     "(`make tools` does it)")
    state = vagrant_state()
    assert state == "not_created", (f"a box of this Vagrantfile already exists ({state}): the test makes and destroys "
                                    "its own, so `vagrant destroy -f` yours first")
    if VAGRANT_PROVIDER == "docker":
        with phase("engine, image"):  # what `vagrant up` builds the Docker box from
            vps.ensure_engine()
            vps.vps_image("bookworm")
    box = None
    try:
        with phase("vagrant up"):
            vagrant("up", "--provider", VAGRANT_PROVIDER)
        # Read once the box has booted, as for the test VPS: systemd as PID 1 raises the machine's
        # fs.file-max to its maximum when it boots in a container (its own doing, before any deploy;
        # once, on a machine where no container booted yet).
        before = read_host_sysctls()
        ssh_config = ROOT / ".peakready" / "vagrant" / "ssh-config"
        ssh_config.parent.mkdir(parents=True, exist_ok=True)
        ssh_config.write_text(vagrant("ssh-config", VAGRANT_MACHINE, timeout=120).stdout)
        machine = ROOT / ".vagrant" / "machines" / VAGRANT_MACHINE / VAGRANT_PROVIDER / "id"
        container = machine.read_text().strip() if VAGRANT_PROVIDER == "docker" else ""
        with phase("first deploy"):
            first = deploy(VAGRANT_MACHINE, "-vvv", inventory=VagrantBox.inventory)
        assert first.returncode == 0 and first.results, f"first deploy failed:\n{first.log[-4000:]}"
        box = VagrantBox(f"@vagrant/{VAGRANT_MACHINE}", {}, first, before, ssh_config, container)
        yield box
    finally:
        with phase("vagrant destroy"):
            vagrant("destroy", "-f", VAGRANT_MACHINE)
            left = vagrant_state()
        assert left == "not_created", f"after vagrant destroy -f the box is {left}"
        if box and box.container:
            found = subprocess.run(["docker", "ps", "-a", "-q", "--no-trunc", "--filter", f"id={box.container}"],
                                   capture_output=True, text=True, check=True).stdout.strip()
            assert not found, f"vagrant destroy -f left the box's container {box.container[:12]}"


@pytest.fixture(scope="session")
def test_vps(request):
    if request.config.getoption("--target") == "vagrant":
        yield from vagrant_box()
        return
    name = f"peakready-test-{os.getpid()}"
    with phase("engine"):
        vps.ensure_engine()
    with phase("image"):
        vps.vps_image(RELEASE)
    try:
        with phase("container"):
            info = vps.up(name, RELEASE, NETWORK)
        before = read_host_sysctls()
        PREPARED.start(WANTED & set(PREPARE))
        try:
            with phase("first deploy"):
                first = deploy(name, "-vvv")  # every command and its output, searched for secrets later
        finally:
            PREPARED.pile_done()
        assert first.returncode == 0 and first.results, f"first deploy failed:\n{first.log[-4000:]}"
        yield TestVps(name, info, first, before)
    finally:
        with phase("teardown"):
            vps.down(name)
            PREPARED.close()


@pytest.fixture(scope="session")
def host(test_vps):
    if isinstance(test_vps, VagrantBox):  # as `vagrant ssh` logs in, root through sudo
        return testinfra.get_host(f"ssh://{VAGRANT_MACHINE}", ssh_config=str(test_vps.ssh_config), sudo=True)
    return testinfra.get_host(f"docker://{test_vps.name}")


@pytest.fixture(scope="session")
def knobs():
    from peakready.knobs import defaults
    return defaults()


@pytest.fixture(scope="session")
def plan(test_vps):
    """This VPS's part of the plan, computed from its live facts as the deploy computes it."""
    from peakready.plan import hosts_from_inventory, make_plan

    if not isinstance(test_vps, VagrantBox):
        os.environ["PEAKREADY_VPS"] = test_vps.name
    hosts, knobs = hosts_from_inventory(test_vps.inventory)
    return make_plan(hosts, knobs)[test_vps.name]


def proxysql_available_or_skip():
    """Skip a ProxySQL test only where no package is available for the VPS's release
    (targets/packages.py) and the run does not require one (PEAKREADY_PROXYSQL_REQUIRED=1, as the
    GitHub workflow sets it; make test stops before any suite without one: targets/tools.py)."""
    from targets.packages import proxysql_package, proxysql_required

    choice = proxysql_package(RELEASE)
    if not choice.enabled:
        if proxysql_required():
            pytest.fail(f"PEAKREADY_PROXYSQL_REQUIRED=1 but {choice.why}")
        pytest.skip(choice.why)
    return choice


def proxysql_or_skip(plan) -> None:
    """proxysql_available_or_skip, and where a package is, ProxySQL must be in the plan: a skip would hide that."""
    choice = proxysql_available_or_skip()
    assert plan.proxysql, f"a package is available ({choice.why}) but the plan has no ProxySQL"


@pytest.fixture(scope="session")
def in_container(host):
    return host.run("systemd-detect-virt --container").rc == 0


def pytest_collection_modifyitems(config, items):
    """First the upgrade (test_upgrade.py), whose VPS was made beside the first deploy and is removed
    once it has run. After the others, the single-host drill (test_drill.py), whose two VPSes are
    made in the second wave (Prepared) while the others run; it removes them. Last, in this order: the overload spike (test_overload.py), which measures a
    latency, once the other VPSes of the run (the trixie one, the user apps') are gone and no longer share the cores;
    the secret searches (test_leaks.py), which search what every other test left behind (before a
    reboot could wipe a volatile journal); then the fault suite, which restarts the services and,
    last, the VPS itself. Against the Vagrant box: the tests marked `box` only."""
    if config.getoption("--target") == "vagrant":
        others = [item for item in items if not item.get_closest_marker("box")]
        config.hook.pytest_deselected(items=others)
        items[:] = [item for item in items if item.get_closest_marker("box")]
    last = {"test_upgrade.py": -1, "test_drill.py": 0.5, "test_overload.py": 1, "test_leaks.py": 2, "test_faults.py": 3}
    items.sort(key=lambda item: last.get(item.path.name, 0))  # stable: each keeps its order
    WANTED.update(mark.args[0] for item in items for mark in item.iter_markers("prepared"))


def pytest_terminal_summary(terminalreporter, config):
    this_run = time.time() - (time.monotonic() - SESSION_START)
    target = config.getoption("--target")
    figures = (("ProxySQL multiplexing", ROOT / ".peakready" / "proxysql-multiplexing.txt"),
               ("micro-cache staleness", ROOT / ".peakready" / "micro-cache.txt"),
               ("overload at the door", ROOT / ".peakready" / "overload.md"),
               ("Let's Encrypt's flow against Pebble", ROOT / ".peakready" / "acme.txt"),
               ("single-host drill", ROOT / ".peakready" / "drill.md"),
               ("fault suite", ROOT / ".peakready" / "faults.md"))
    # Written by modules that run on the test VPS only (make test's vagrant session runs beside one).
    for title, path in figures if target == "docker" else ():
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
    if BACKGROUND_TIMINGS:
        terminalreporter.write_line("in the background, beside the first deploy (not in the total):")
        for name, seconds in BACKGROUND_TIMINGS.items():
            terminalreporter.write_line(f"{name:>22}: {seconds:7.1f}")
    out = ROOT / ".peakready" / f"test-timings{'' if target == 'docker' else '-' + target}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({**{k: round(v, 1) for k, v in TIMINGS.items()},
                               "background": {k: round(v, 1) for k, v in BACKGROUND_TIMINGS.items()}}, indent=2) + "\n")
