"""The README's production quickstart, walked as a newcomer walks it: its commands, block by block
as README.md shows them (tests/readme.py reads them from it at each run), in a checkout of this
commit, against a fresh local VPS reached over SSH at its own address, as a real server is (never
the Docker connector, never inventories/docker.py).

What the walk adds to the README, each as a newcomer would do it:
  - a terminal of this machine's user without any PEAKREADY_ variable, and a home of their own:
    ~/.ssh/id_ed25519 (the key the VPS lets root in with) and known_hosts
    holding the VPS's host key (the README's "ssh to it once", checked out of band here);
  - the VPS's address in place of the README's documentation address, 203.0.113.10;
  - Enter at pyinfra's question (the README says it asks);
  - where ProxySQL's repository is not reached (a test run sends nothing beyond the machine it runs
    on), the line the README's pre-flight refusal asks for: proxysql_deb, appended to the settings
    file (or, with no package either, proxysql_enabled = False, and the ProxySQL check skips).
Then the site must answer at its name with the team's app (apps/shop), its health path (MariaDB
through ProxySQL, and Redis) must answer, the server's address alone must get no site, and nothing
the walk printed may hold a generated secret.

The walk runs in the background while the test VPS's own first deploy runs (tests/infra/conftest.py,
Prepared).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from peakready import ROOT
from peakready.knobs import defaults
from targets import vps
from targets.packages import proxysql_package
from tests import readme
from tests.infra.conftest import DEPLOY_TIMEOUT_S, NETWORK, PREPARE, PREPARED, RELEASE, phase
from tests.leaks import Redacted, in_text

WALKS = ROOT / ".peakready" / "readme" / str(os.getpid())  # this run's: another may run beside it
SETTINGS = Path("inventories/group_data/prod.py")  # the README's settings file, in the walk's checkout
SITE = "shop.example.com"  # the name the README's settings give the site
BLOCK_TIMEOUT_S = DEPLOY_TIMEOUT_S  # the deploy is the longest block

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

    @property
    def output(self) -> str:
        return "".join(step.output for step in self.steps)


def checkout(dest: Path) -> None:
    """This checkout's files as a clone of it has them (tracked, and new files not ignored), with its
    virtualenv: the README's "the virtualenv `make venv` made"."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True, timeout=60).stdout.decode().split("\0")
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():  # a file deleted but not yet committed is not in a clone either
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    (dest / ".venv").symlink_to(ROOT / ".venv")


def home(dest: Path, box: str, address: str) -> Path:
    """A newcomer's home: the key the VPS takes root's login with, and its host key in known_hosts."""
    ssh = dest / ".ssh"
    ssh.mkdir(mode=0o700, parents=True)
    shutil.copy(vps.SSH_KEY, ssh / "id_ed25519")
    (ssh / "id_ed25519").chmod(0o600)
    kind, key = vps.sh(box, "cat /etc/ssh/ssh_host_ed25519_key.pub").split()[:2]
    (ssh / "known_hosts").write_text(f"{address} {kind} {key}\n")
    return dest


def run(block: str, cwd: Path, home_dir: Path) -> Step:
    """One block of the README in bash, as typed in a fresh terminal of this machine's user (its
    environment: its proxy and CA settings reach PyPI) with none of peakready's variables, the
    newcomer's home, and Enter at pyinfra's question."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEAKREADY_")} | {"HOME": str(home_dir)}
    res = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=cwd, env=env, input="\n", text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=BLOCK_TIMEOUT_S)
    return Step(block, res.returncode, res.stdout)


def walk() -> Walked:
    blocks = readme.quickstart()
    box = PREPARED.vps(f"peakready-readme-{os.getpid()}")
    with phase("readme: container"):
        info = vps.up(box, RELEASE, NETWORK)
    address = info["address"]  # the container's own, from docker inspect: port 22 and 80 as on a server
    shutil.rmtree(WALKS, ignore_errors=True)
    repo, home_dir = WALKS / "peakready", home(WALKS / "home", box, address)
    repo.mkdir(parents=True)
    checkout(repo)
    steps: list[Step] = []
    with phase("readme: the quickstart's commands"):
        for block in blocks:
            if ".venv/bin/pyinfra" in block:
                local_proxysql(repo / SETTINGS)
            steps.append(run(block.replace(readme.DOC_ADDRESS, address), repo, home_dir))
            if steps[-1].returncode != 0:
                break
    store = repo / ".peakready" / "secrets" / "prod.json"
    secrets = Redacted(json.loads(store.read_text())) if store.exists() else Redacted()
    return Walked(box, address, steps, secrets)


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
    try:
        yield PREPARED.take("readme")
    finally:
        with phase("teardown"):
            vps.down(f"peakready-readme-{os.getpid()}")
            shutil.rmtree(WALKS, ignore_errors=True)  # its checkout holds the generated secrets


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
        assert step.returncode == 0, f"`{step.command.strip()}` failed ({step.returncode}):\n{step.output[-4000:]}"


def test_the_site_answers_at_its_name_with_the_teams_app(walked):
    status, body = get(walked, "/")
    assert status == 200 and b"<h1>Shop</h1>" in body, f"/ for {SITE}: {status} {body[:300]!r}"
    # The README's own check (its last block, curl by name) printed the same page.
    assert "<h1>Shop</h1>" in walked.steps[-1].output, walked.steps[-1].output[-1000:]


def test_its_health_path_reaches_mariadb_through_proxysql_and_redis(walked):
    package = proxysql_package(RELEASE)
    before = app_statements(walked) if package.enabled else 0
    status, body = get(walked, "/health")
    assert (status, body) == (200, b"ok\n"), f"/health: {status} {body[:300]!r}"
    if not package.enabled:  # make test stops before any suite without one (targets/tools.py)
        pytest.skip(package.why)
    # The health path's SELECT 1, counted by ProxySQL as the app's user.
    assert app_statements(walked) > before, "the app's query did not go through ProxySQL"


def app_statements(walked: Walked) -> int:
    """The statements ProxySQL has counted for the app's database user."""
    user = defaults()["mariadb_app_user"]
    out = vps.sh(walked.vps, "mariadb --defaults-file=/root/.peakready-proxysql-admin.cnf -N -B -e "
                             f"\"SELECT IFNULL(SUM(count_star), 0) FROM stats_mysql_query_digest WHERE username = '{user}'\"")
    return int(out.strip())


def test_the_servers_address_alone_gets_no_site(walked):
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        get(walked, "/", name=None)


def test_the_walk_printed_no_secret(walked):
    assert len(walked.secrets) >= 5, f"the walk's deploy stored {sorted(walked.secrets)}"
    assert not in_text(walked.output, walked.secrets), "the quickstart's output holds a generated secret"
