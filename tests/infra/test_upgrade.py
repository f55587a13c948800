"""Upgrading peakready on a live host, as a team does it: a local VPS deployed by the previous
release (the newest one CHANGELOG.md records, by its commit: targets/releases.py; exported with
`git archive` and deployed from there), then deployed by this commit while wrk loads the app: no
failed request, the bookings written before still there, every stored secret kept, and a re-run that
changes nothing.

The previous release is deployed in the background while the test VPS's own first deploy runs
(tests/infra/conftest.py, Prepared). The figures go to .peakready/upgrade.md.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from peakready import ROOT, knobs, services
from peakready.secrets import DIRECTORY
from targets import releases, vps, wrk
from targets.packages import proxysql_package
from tests.infra.conftest import NETWORK, PREPARE, PREPARED, RELEASE, Deploy, deploy, phase
from tests.infra.test_web import request

EXPORTS = ROOT / ".peakready" / "upgrade" / str(os.getpid())  # this run's: another may run beside it
# What the upgrade from the previous release changes on a host: the operations, each matched by one
# of these patterns (a release's id and the host's worker counts vary), as CHANGELOG.md says. Since
# 0.1.0: the sample app deployed through its settings file (its environment, its code), comments
# that no longer name it in gunicorn's and nginx's files, the static files' ^~ location, the live
# release's health check after its switch, and the monitoring's part of the backups.
EXPECTED_CHANGES = [
    r"app \| Environment /etc/peakready/app\.env \(0640\)",
    r"app \| /nonexistent is not there",  # 0.1.0 let pyinfra make it, as the app user's home
    r"app \| gunicorn: \d+ \w+ workers",
    r"app \| Release [0-9a-f]+: code, virtualenv, static files, migrations, health",
    r"app \| Go live: current -> releases/[0-9a-f]+",
    r"app \| Reload the app \(graceful: new workers up before old ones go\)",
    r"app \| The live release answers \S+ \(else current goes back\)",
    r"nginx \| nginx: \d+ workers x \d+ connections, the site \(nginx -t\)",
    r"nginx \| Reload nginx \(graceful; the config passed nginx -t\)",
    # The node exporter reads the textfile directory (the backups' figures), and the backups' alert rules.
    r"exporters \| Reload systemd units for the exporters",
    r"exporters \| prometheus-node-exporter: listens on [0-9.]+ only, sandboxed",
    r"exporters \| Restart prometheus-node-exporter for its new settings",
    r"prometheus \| Prometheus: \d+ targets every \d+ s, the alert rules \(promtool checks both\)",
    r"prometheus \| Reload Prometheus \(config and rules passed promtool\)",
]
# The secrets it may add to an inventory's store (every one stored before is kept): the sample app's
# admin token, now one of its app_secrets (stored as app:ADMIN_TOKEN; it was app_admin_token), and
# the backups' (generated for every inventory, used where it has a backup host).
EXPECTED_NEW_SECRETS = ["app:ADMIN_TOKEN", "backup_ssh_seed", "mariadb_binlog_password", "restic_password"]
# The load while the upgrade runs: short wrk runs back to back until the deploy returns, so every
# moment of it is under load; a run is this long, on a path that reads MariaDB on every request
# (availability: no-store, never cached), below the app's door.
LOAD_RUN_S = 5
LOAD_CONNECTIONS = 10
# An nginx reload answers every request it has read, then its old workers close their idle
# keep-alive connections: a request wrk sends on one in that instant is never read (a socket error;
# HTTP clients retry it, RFC 9112 9.3.1), about one per open connection and reload, as in the fault
# suite's nginx reload (tests/infra/test_faults.py); the figure is in the printed table. The bound is
# three a connection and reload, a safety limit; never a non-2xx answer.
RELOAD_RACES_BOUND = 3 * LOAD_CONNECTIONS
UPGRADE_TIMEOUT_S = 900  # the deploy's own bound (conftest.DEPLOY_TIMEOUT_S): the load loop ends with it

pytestmark = pytest.mark.prepared("upgrade")


@dataclass
class Upgraded:
    tag: str
    vps: str
    info: dict

    def get(self, path: str, **kw) -> tuple[int, dict, bytes]:
        return request(self, path, **kw)


def prepare() -> Upgraded:
    """The previous release's files, its VPS up and deployed by it."""
    release = releases.previous()
    tag = release.tag
    checkout = EXPORTS / tag
    shutil.rmtree(checkout, ignore_errors=True)
    checkout.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", release.commit], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(checkout)], input=archive, check=True)
    # The state a team's checkout keeps across a `git pull`: one store of secrets for both releases
    # (and its lock: the test VPS's first deploy may be writing it at this moment), the local VPSes'
    # records and their SSH key.
    (checkout / ".peakready").mkdir()
    for state in (DIRECTORY, vps.STATE / "vps", vps.STATE / "ssh"):
        state.mkdir(parents=True, exist_ok=True)
        (checkout / ".peakready" / state.name).symlink_to(state)
    box = PREPARED.vps(f"peakready-upgrade-{os.getpid()}")
    with phase("upgrade: container"):
        info = vps.up(box, RELEASE, NETWORK)
    try:
        with phase(f"upgrade: first deploy by {tag}"):
            first = from_release(box, checkout)
    finally:
        shutil.rmtree(EXPORTS, ignore_errors=True)  # the previous release's files served their one deploy
    assert first.returncode == 0, f"the deploy by {tag} failed:\n{first.log[-4000:]}"
    return Upgraded(tag, box, info)


def from_release(box: str, checkout: Path) -> Deploy:
    """The deploy of `box` by the release whose files are in `checkout`. They find no shared/ beside
    them: it gets the package this checkout found."""
    package = proxysql_package(RELEASE)
    env = {"PEAKREADY_PROXYSQL_DEB": package.deb} if package.enabled and package.deb else {}
    return deploy(box, env=env, cwd=checkout)


PREPARE["upgrade"] = prepare


@pytest.fixture(scope="module")
def upgraded(test_vps):
    """The previous release's VPS (test_vps first: its first deploy is what starts the background one)."""
    with PREPARED.taken("upgrade", f"peakready-upgrade-{os.getpid()}") as upgraded_vps:
        yield upgraded_vps


def book(upgraded: Upgraded, key: str, when: str) -> tuple[int, dict]:
    """POST a booking under Idempotency-Key `key`: 201 the first time; 200 with the same id when the
    same booking is sent again and the first one is stored."""
    body = {"outlet_id": 1, "name": "Upgrade", "phone": "+62 812 5550 1234", "party_size": 2, "time": when}
    status, _, answer = upgraded.get("/api/v1/bookings", method="POST", body=json.dumps(body),
                                     headers={"Idempotency-Key": key, "Content-Type": "application/json"})
    return status, json.loads(answer) if answer else {}


def test_an_upgrade_under_load_fails_no_request_and_keeps_data_and_secrets(upgraded):
    key = f"upgrade-{uuid.uuid4().hex}"
    when = (datetime.now(UTC) + timedelta(days=5)).replace(microsecond=0).isoformat()
    status, booked = book(upgraded, key, when)
    assert status == 201, (status, booked)
    secrets_before = json.loads((DIRECTORY / "docker.json").read_text())
    day = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    started = time.monotonic()
    with phase("upgrade: deploy by this commit, under load"):
        upgrade, load = wrk.while_running(upgraded.vps, f"/api/v1/outlets/1/availability?date={day}",
                                          LOAD_CONNECTIONS, lambda: deploy(upgraded.vps), run_s=LOAD_RUN_S,
                                          bound_s=UPGRADE_TIMEOUT_S, budget=200_000)
    took_s = time.monotonic() - started
    assert upgrade.returncode == 0, f"the upgrade from {upgraded.tag} failed:\n{upgrade.log[-4000:]}"
    rerun = deploy(upgraded.vps)
    assert rerun.returncode == 0, rerun.log[-3000:]

    replay_status, replayed = book(upgraded, key, when)
    secrets_after = json.loads((DIRECTORY / "docker.json").read_text())
    kept = all(secrets_after.get(name) == value for name, value in secrets_before.items())
    added = sorted(set(secrets_after) - set(secrets_before))
    reloads = sum(1 for name in upgrade.changed if name.startswith("nginx | Reload nginx"))
    table = "\n".join([
        f"| upgrade on a live local VPS | {upgraded.tag} -> this commit |", "| --- | --- |",
        f"| operations the upgrade changed | {len(upgrade.changed)} of {len(upgrade.results['operations'])} |",
        f"| the upgrade's deploy | {took_s:.0f} s |",
        f"| requests during it (wrk, {LOAD_CONNECTIONS} connections, {load['runs']} runs of {LOAD_RUN_S} s) | "
        f"{load['requests']} |",
        f"| answers not 2xx | {load['non2xx']} |",
        f"| sends racing nginx's reload closing idle keep-alive connections (socket errors; bound "
        f"{RELOAD_RACES_BOUND * reloads}) | {load['socket_errors']} |",
        f"| booking made before, found after | {'yes' if replay_status == 200 and replayed.get('id') == booked['id'] else 'no'} |",
        f"| every stored secret kept | {'yes' if kept else 'no'} |",
        f"| operations a re-run changed | {len(rerun.changed)} |",
    ])
    changed = "\n".join(f"- {name}" for name in upgrade.changed) or "- none"
    (ROOT / ".peakready" / "upgrade.md").write_text(f"{table}\n\nWhat the upgrade changed:\n{changed}\n")
    print(f"\n{table}\n\nWhat the upgrade changed:\n{changed}")
    assert load["requests"] > 0 and load["runs"] >= 2, load
    assert load["non2xx"] == 0, f"answers other than 2xx during the upgrade: {load}"
    assert load["socket_errors"] <= RELOAD_RACES_BOUND * reloads, f"failed sends during the upgrade: {load}"
    assert (replay_status, replayed.get("id")) == (200, booked["id"]), "the booking made before the upgrade is gone"
    assert kept, "the upgrade changed a stored secret"
    assert set(added) <= set(EXPECTED_NEW_SECRETS), f"the upgrade added secrets {added}; CHANGELOG.md says {EXPECTED_NEW_SECRETS}"
    assert rerun.changed == [], f"a re-run after the upgrade changed {rerun.changed}"
    matched = sorted(next((p for p in EXPECTED_CHANGES if re.fullmatch(p, name)), f"unexpected: {name}")
                     for name in upgrade.changed)
    assert matched == sorted(EXPECTED_CHANGES), (
        f"the upgrade from {upgraded.tag} changed {upgrade.changed}; CHANGELOG.md (and EXPECTED_CHANGES) say "
        f"{EXPECTED_CHANGES}")


def test_the_load_would_see_an_app_that_stops(upgraded):
    """The control: the same load loop around an app stopped for a few seconds counts failures."""
    day = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    unit = services.unit_file("app", knobs.defaults()["app_name"])

    def outage() -> None:
        time.sleep(2)
        vps.sh(upgraded.vps, f"systemctl stop {unit} && sleep {LOAD_RUN_S + 1} && systemctl start {unit}")
    _, load = wrk.while_running(upgraded.vps, f"/api/v1/outlets/1/availability?date={day}", LOAD_CONNECTIONS,
                                outage, run_s=LOAD_RUN_S, bound_s=UPGRADE_TIMEOUT_S, budget=200_000)
    assert load["non2xx"] + load["socket_errors"] > 0, load
