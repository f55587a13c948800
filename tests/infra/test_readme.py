"""The README's production quickstart, walked as a newcomer walks it: its commands, block by block
as README.md shows them (tests/readme.py reads them from it at each run), in a copy of this checkout,
against a fresh local VPS reached over SSH at its own address, as a real server is (never the Docker
connector, never inventories/docker.py).

What the walk adds to the README, each as a newcomer would do it:
  - a terminal of this machine's user (its proxy and CA settings: the deploy fetches the app's
    dependencies from PyPI) without any PEAKREADY_ variable, SSH agent or PYTHONPATH, the VPS's
    address exempt from any proxy, and a home of its own: ~/.ssh/id_ed25519 (the key the VPS lets
    root in with) and known_hosts holding the VPS's host key (the README's "ssh to it once", checked
    out of band here);
  - the VPS's address in place of the README's documentation address, 203.0.113.10 (and then no
    other address is left in the commands);
  - Enter at pyinfra's question (the README says it asks);
  - where ProxySQL's repository is not tried (make test does not: targets/packages.py), the line
    the README's pre-flight refusal asks for: proxysql_deb, appended to the settings file (or, with no
    package either, proxysql_enabled = False, and the ProxySQL check skips).
Then the site must answer at its name with the team's app (apps/shop), its health path (MariaDB
through ProxySQL, and Redis) must answer, Prometheus must find every target up, the server's address
alone must get no site, nothing the walk printed may hold a generated secret, and this checkout's
own state must be untouched.

The walk runs in the background while the test VPS's own first deploy runs (tests/infra/conftest.py,
Prepared); its copy of the checkout (with the generated secrets) is removed as soon as it is done.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from peakready import ROOT
from peakready.facts import PROXYSQL_ADMIN_CNF
from peakready.knobs import defaults
from targets import vps
from targets.packages import proxysql_package
from tests import readme
from tests.infra.conftest import DEPLOY_TIMEOUT_S, NETWORK, PREPARE, PREPARED, RELEASE, phase, proxysql_available_or_skip
from tests.leaks import Redacted, in_text, needles

SETTINGS = Path("inventories/group_data/prod.py")  # the README's settings file, in the walk's checkout
SITE = "shop.example.com"  # the name the README's settings give the site
BLOCK_TIMEOUT_S = DEPLOY_TIMEOUT_S  # the deploy is the longest block
# Every target's first scrape comes within a few of Prometheus's scrape intervals (the walk deploys
# with the defaults: prometheus_scrape_interval_s).
TARGETS_UP_S = 6 * defaults()["prometheus_scrape_interval_s"]
# This checkout's own state for inventories/prod.py: the walk must write its copy's, never these.
OWN_STATE = (ROOT / ".peakready" / "secrets" / "prod.json", ROOT / ".peakready" / "topology" / "prod.json")
IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")

pytestmark = pytest.mark.prepared("readme")


@dataclass
class Step:
    command: str
    returncode: int
    output: str  # stdout and stderr, interleaved as a terminal shows them


@dataclass
class Walked:
    vps: str
    address: str
    steps: list[Step]
    secrets: Redacted  # the store the walk's deploy wrote, in its own checkout
    own_state: tuple  # OWN_STATE as it was before the walk and after it

    @property
    def output(self) -> str:
        return "".join(step.output for step in self.steps)

    def shown(self, text: str) -> str:
        """`text` fit for a failure message: every generated secret replaced by its name."""
        for form, name in needles(self.secrets).items():  # each value, and as it appears in a URL
            text = text.replace(form, f"<{name}>")
        return text


def checkout(dest: Path) -> None:
    """This checkout's tracked files as a clone of it has them (as they are now in the work tree),
    with its virtualenv: the README's "the virtualenv `make venv` made"."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached"], cwd=ROOT,
                            capture_output=True, check=True, timeout=60).stdout.decode().split("\0")
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():  # a file deleted but not yet committed is not in a clone either
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    (dest / ".venv").symlink_to(ROOT / ".venv")


def home(dest: Path, info: dict) -> Path:
    """A newcomer's home: the key the VPS takes root's login with, and its host key (the one
    targets/vps.py pinned for it) in known_hosts under its address."""
    ssh = dest / ".ssh"
    ssh.mkdir(mode=0o700, parents=True)
    shutil.copy(info["ssh_key"], ssh / "id_ed25519")
    (ssh / "id_ed25519").chmod(0o600)
    kind, key = Path(info["known_hosts"]).read_text().split()[1:3]
    (ssh / "known_hosts").write_text(f"{info['address']} {kind} {key}\n")
    return dest


def run(block: str, cwd: Path, home_dir: Path, address: str) -> Step:
    """One block of the README in bash, as typed in a terminal (see the module's docstring), Enter
    at pyinfra's question; on its timeout, the block and everything it started are ended."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PEAKREADY_") and k not in ("SSH_AUTH_SOCK", "PYTHONPATH", "VIRTUAL_ENV")}
    no_proxy = ",".join(filter(None, [os.environ.get("no_proxy") or os.environ.get("NO_PROXY"), address]))
    env |= {"HOME": str(home_dir), "no_proxy": no_proxy, "NO_PROXY": no_proxy}
    proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", block], cwd=cwd, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        out, _ = proc.communicate("\n", timeout=BLOCK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: pyinfra and its children too
        out, _ = proc.communicate()
        out += f"\n(ended after {BLOCK_TIMEOUT_S} s)"
    return Step(block, proc.returncode, out)


def substituted(block: str, address: str) -> str:
    """The block with the VPS's address for the README's documentation address, and no other address."""
    ours = IPV4.sub(lambda m: address if m.group(0) == readme.DOC_ADDRESS else m.group(0), block)
    others = set(IPV4.findall(ours)) - {address}
    assert not others, f"the README's quickstart names other addresses than its server's: {sorted(others)}"
    return ours


def own_state() -> tuple:
    return tuple((path.stat().st_mtime_ns, path.stat().st_size) if path.exists() else None for path in OWN_STATE)


def walk() -> Walked:
    blocks = readme.quickstart()
    box = PREPARED.vps(f"peakready-readme-{os.getpid()}")
    with phase("readme: container"):
        info = vps.up(box, RELEASE, NETWORK)
    address = info["address"]  # the container's own, from docker inspect: port 22 and 80 as on a server
    before = own_state()
    work = Path(tempfile.mkdtemp(prefix="peakready-readme-"))
    try:
        repo, home_dir = work / "peakready", home(work / "home", info)
        repo.mkdir()
        checkout(repo)
        steps: list[Step] = []
        with phase("readme: the quickstart's commands"):
            for block in blocks:
                if ".venv/bin/pyinfra" in block:
                    local_proxysql(repo / SETTINGS)
                steps.append(run(substituted(block, address), repo, home_dir, address))
                if steps[-1].returncode != 0:
                    break
        store = repo / ".peakready" / "secrets" / "prod.json"
        secrets = Redacted(json.loads(store.read_text())) if store.exists() else Redacted()
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the copy holds the generated secrets and the key
    return Walked(box, address, steps, secrets, (before, own_state()))


def local_proxysql(settings: Path) -> None:
    """What the README's pre-flight refusal asks for when the host cannot reach ProxySQL's repository
    (here, unless the run is told to try it: targets/packages.py): the package, in the settings file."""
    package = proxysql_package(RELEASE)
    if package.deb or not package.enabled:
        assert settings.exists(), f"the README's commands before the deploy did not write {SETTINGS}"
        with settings.open("a") as out:
            out.write(f"proxysql_enabled = {package.enabled}\nproxysql_deb = {package.deb!r}\n")


PREPARE["readme"] = walk


@pytest.fixture(scope="module")
def walked(test_vps):
    """The walk (test_vps first: its first deploy is what starts the background one)."""
    with PREPARED.taken("readme", f"peakready-readme-{os.getpid()}") as walk_result:
        yield walk_result


def get(walked: Walked, path: str, name: str | None = SITE) -> tuple[int, bytes]:
    """GET to the server's address on port 80, for `name` (None: the address alone, as a browser asks)."""
    conn = http.client.HTTPConnection(walked.address, 80, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": name or walked.address})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_every_command_of_the_quickstart_runs_as_written(walked):
    assert len(walked.steps) == len(readme.quickstart()), "a command of the README's quickstart failed"
    for step in walked.steps:
        assert step.returncode == 0, f"`{step.command.strip()}` failed ({step.returncode}):\n{walked.shown(step.output)[-4000:]}"


def test_the_site_answers_at_its_name_with_the_teams_app(walked):
    status, body = get(walked, "/")
    assert status == 200 and b"<h1>Shop</h1>" in body, f"/ for {SITE}: {status} {body[:300]!r}"
    # The README's own check (its last block, curl by name) printed the same page.
    assert "<h1>Shop</h1>" in walked.steps[-1].output, walked.shown(walked.steps[-1].output)[-1000:]


def test_its_health_path_reaches_mariadb_and_redis(walked):
    status, body = get(walked, "/health")
    assert (status, body) == (200, b"ok\n"), f"/health: {status} {body[:300]!r}"


def test_the_apps_queries_go_through_proxysql(walked):
    proxysql_available_or_skip()
    before = app_statements(walked)
    assert get(walked, "/health")[0] == 200
    # The health path's SELECT 1, counted by ProxySQL as the app's user.
    assert app_statements(walked) > before, "the app's query did not go through ProxySQL"


def app_statements(walked: Walked) -> int:
    """The statements ProxySQL has counted for the app's database user."""
    user = defaults()["mariadb_app_user"]
    out = vps.sh(walked.vps, f"mariadb --defaults-file={PROXYSQL_ADMIN_CNF} -N -B -e "
                             f"\"SELECT IFNULL(SUM(count_star), 0) FROM stats_mysql_query_digest WHERE username = '{user}'\"")
    return int(out.strip())


def test_prometheus_finds_every_target_up(walked):
    """Nothing the deploy set up to watch is down: the team's app is asked for metrics only where its
    settings say it has them (app_metrics_path), so no alert fires for the quickstart's app."""
    deadline, targets = time.monotonic() + TARGETS_UP_S, []
    while time.monotonic() < deadline:
        targets = json.loads(vps.sh(walked.vps, "curl -sf http://127.0.0.1:9090/api/v1/targets"))["data"]["activeTargets"]
        if targets and all(t["health"] == "up" for t in targets):
            break
        time.sleep(3)
    assert targets and all(t["health"] == "up" for t in targets), [
        (t["labels"]["job"], t["health"], t["lastError"]) for t in targets if t["health"] != "up"]
    assert "app" not in {t["labels"]["job"] for t in targets}


def test_this_checkouts_own_state_is_untouched(walked):
    before, after = walked.own_state
    assert before == after, f"the walk wrote {[str(p) for p, b, a in zip(OWN_STATE, before, after) if b != a]}"


def test_the_servers_address_alone_gets_no_site(walked):
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        get(walked, "/", name=None)


def test_the_walk_printed_no_secret(walked):
    assert len(walked.secrets) >= 5, f"the walk's deploy stored {sorted(walked.secrets)}"
    assert not in_text(walked.output, walked.secrets), "the quickstart's output holds a generated secret"
