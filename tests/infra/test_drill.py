"""The single-host drill: the one-VPS deploy (every role on one host), its backups pulled by a second
local VPS (backup_servers), the only copy. Under a stream of bookings the VPS is destroyed with its
disk; a fresh VPS under its name is rebuilt from the backups by restore.py (restore_at=latest), then
deploy.py puts the rest of the stack back, and the app serves again; the backups go on from the new
server in a span of their own (a base backup of it, the lost server's binary logs set aside). Printed (and written to
.peakready/drill.md): the acknowledged bookings lost (RPO) and the time until the app serves (RTO).
The control: a VPS restored to the second before the stream began holds none of the bookings the
stream had acknowledged, and the count finds them missing.

PEAKREADY_DRILL_DB_MB=1024 (`make drill`) first fills the app's database to that size with
incompressible rows and takes a base backup of it, then runs the same drill (.peakready/drill-1024m.md).

The VPS pair is started and deployed in the second wave (tests/infra/conftest.py, Prepared): once the
test VPS's first deploy and every other VPS's beside it are done, while the other tests run; the drill
runs after them. `make drill` (this module alone) makes the pair when it begins. Its secrets come from
the environment (PEAKREADY_SECRET_<NAME>, peakready/secrets.py), so the other
tests' rotations of the local VPS's stored ones never reach it."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets as random
import subprocess
import time
from dataclasses import dataclass

import pytest

from peakready import ROOT, backup, knobs
from peakready.secrets import NAMES, variable
from targets import vps
from targets.inventory import local_data
from tests.infra.conftest import LATER, NETWORK, PREPARE, PREPARED, RELEASE, Deploy, deploy, phase
from tests.wait import wait_until

BOX = f"peakready-drill-{os.getpid()}"  # the one VPS
KEEPER = f"peakready-drill-backup-{os.getpid()}"  # its backup host
DB_MB = int(os.environ.get("PEAKREADY_DRILL_DB_MB", "0"))
FIGURES = ROOT / ".peakready" / ("drill.md" if not DB_MB else f"drill-{DB_MB}m.md")
TRAFFIC = ROOT / "tests" / "multi" / "traffic.py"
STOP = "/run/peakready-drill-stop"  # on the backup host: the write stream's end (traffic.py)
DB = knobs.defaults()["app_db_name"]
LOSS_LOAD_S = 45  # the write stream: flowing within its first 39 s, then the loss
FLOWING = 20  # bookings of the stream committed before the VPS is destroyed
# Safety limits, several times what the drill measured (its figures: .peakready/drill*.md, docs/backups.md).
RTO_BOUND_S = 1800 if not DB_MB else 3600  # from the restore's start until the app takes a booking again
# The RPO target: a booking acknowledged this long before the loss is in the backups (measured: none lost).
RPO_BOUND_S = 5
SHIPPED_BOUND_S = 60  # a booking on the rebuilt VPS is in the backup host's copy of its binary log
BINLOGS = f"{knobs.defaults()['backup_root']}/binlogs"
STREAM = "SELECT COUNT(*) FROM bookings WHERE idempotency_key LIKE 'multi-%';"


@dataclass
class Drill:
    env: dict[str, str]  # the inventory's extra environment: the backup host, the knobs file, every secret
    address: str  # the VPS's, on the network it shares with its backup host
    first: Deploy

    def run(self, script: str = "deploy.py", *args: str) -> Deploy:
        return deploy(BOX, *args, env=self.env, script=script)

    def sql(self, query: str, timeout: int = 120) -> str:
        return vps.sh(BOX, f"mariadb -N -B {DB}", stdin=query, timeout=timeout).strip()


def prepare() -> Drill:
    with phase("drill: containers"):
        keeper = vps.up(PREPARED.vps(KEEPER), RELEASE, NETWORK, memory="1g", cpus="1")
        info = vps.up(PREPARED.vps(BOX), RELEASE, NETWORK)
    data = ROOT / ".peakready" / "drill" / "data.json"
    data.parent.mkdir(parents=True, exist_ok=True)
    # No AIDE baseline (tests/infra/test_audit.py proves it on the test VPS). The write stream comes
    # from the backup host, the one other host here: exempt from the per-address limits as loopback is
    # (targets/inventory.py), as 3 writers stand for many visitors.
    exempt = [*local_data({})["rate_limit_exempt"], f"{keeper['address']}/32"]
    data.write_text(json.dumps({"file_integrity": False, "rate_limit_exempt": exempt}))
    env = {"PEAKREADY_BACKUP": KEEPER, "PEAKREADY_DATA": str(data),
           **{variable(name): random.token_urlsafe(32) for name in (*NAMES, "admin_token")}}
    with phase("drill: first deploy"):
        first = deploy(BOX, "-vvv", env=env)
    assert first.returncode == 0, f"the drill's first deploy failed:\n{first.log[-4000:]}"
    return Drill(env, info["address"], first)


PREPARE["drill"] = prepare
LATER.add("drill")


@pytest.fixture(scope="module")
def drill():
    try:
        yield PREPARED.take("drill")
    finally:
        with phase("teardown"):
            vps.down(BOX)
            vps.down(KEEPER)


def utc(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def booked(address: str, key: str) -> int:
    """A booking through the VPS's nginx from its backup host: the status nginx answers (0: none)."""
    body = json.dumps({"outlet_id": 1, "name": "Drill", "phone": "+62 812 5550 1234", "party_size": 2,
                       "time": (dt.datetime.now(dt.UTC) + dt.timedelta(days=9)).replace(microsecond=0).isoformat()})
    out = vps.sh(KEEPER, f"curl -s -o /dev/null -m 10 -w '%{{http_code}}' -X POST -H 'Host: localhost' "
                         f"-H 'Content-Type: application/json' -H 'Idempotency-Key: {key}' --data-binary @- "
                         f"http://{address}/api/v1/bookings || true", stdin=body)
    return int(out.strip() or 0)


def fill(drill: Drill, megabytes: int) -> None:
    """The app's database grown by `megabytes` of random (incompressible) rows, 16 MB a transaction;
    then a base backup of it."""
    drill.sql("CREATE TABLE IF NOT EXISTS drill_ballast (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
              "pad VARBINARY(4096) NOT NULL) ENGINE=InnoDB;")
    for done in range(0, megabytes, 16):
        rows = 256 * min(16, megabytes - done)  # of 4 KB: at most 16 MB
        drill.sql(f"INSERT INTO drill_ballast (pad) SELECT CONCAT(RANDOM_BYTES(1024), RANDOM_BYTES(1024), "
                  f"RANDOM_BYTES(1024), RANDOM_BYTES(1024)) FROM seq_1_to_{rows};")
    based = vps.sh(KEEPER, "systemctl start peakready-backup-base.service >/dev/null 2>&1; echo $?", timeout=3600)
    assert based.strip() == "0", vps.sh(KEEPER, "journalctl -u peakready-backup-base.service -n 30 -o cat")


def on_disk() -> int:
    """The app's database on the VPS's disk, in MB (its directory in MariaDB's datadir)."""
    return int(vps.sh(BOX, f"du -sm /var/lib/mysql/{DB}").split()[0])


@pytest.mark.prepared("drill")
def test_the_vps_destroyed_under_writes_is_rebuilt_from_its_backups_and_serves_again(drill):
    covered = json.loads(vps.sh(KEEPER, f"{backup.TOOL} coverage {BOX}"))
    assert covered["bases"] >= 1, covered
    if DB_MB:
        fill(drill, DB_MB)
    size = on_disk()
    assert size >= DB_MB, f"the database takes {size} MB, not the {DB_MB} MB asked for"
    at_start = int(drill.sql(STREAM))
    vps.sh(KEEPER, f"rm -f {STOP}")
    load = subprocess.Popen(["docker", "exec", "-i", KEEPER, "python3", "-", str(LOSS_LOAD_S), "5000", "1", "3",
                             drill.address, STOP], stdin=open(TRAFFIC), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    load_started = time.time()
    flowing = wait_until(lambda: int(drill.sql(STREAM)) >= at_start + FLOWING, LOSS_LOAD_S - 6)
    lost_at = time.time()
    # The VPS and its disk: every role, and the database's only copy but the backups.
    vps.client().containers.get(BOX).remove(force=True, v=True)
    vps.sh(KEEPER, f"touch {STOP}")  # the stream ends: what it sent from now on cannot be acknowledged
    out, err = load.communicate(timeout=300)
    assert load.returncode == 0, err
    result = json.loads(out)
    answered_at = {key: answered for key, _sent, answered in result["acked"] if answered < lost_at}
    before = list(answered_at)
    assert flowing and before, f"no stream of bookings before the loss: {len(before)} acknowledged"
    listed = ",".join(f"'{key}'" for key in before)
    count = f"SELECT COUNT(*) FROM bookings WHERE idempotency_key IN ({listed});"

    if not DB_MB:
        vps.up(BOX, RELEASE, NETWORK)
        # Refused before any change: the backup host does not answer.
        keeper = vps.client().containers.get(KEEPER)
        keeper.stop(timeout=60)
        try:
            refused = drill.run("restore.py", "--data", "restore_at=latest")
        finally:
            keeper.start()
            vps.wait_for_boot(vps.client().containers.get(KEEPER))
        assert refused.returncode != 0 and f"{KEEPER}, its backup host (backup_servers), which holds the backups, " \
            "does not answer" in refused.log, refused.log[-2000:]
        assert vps.sh(BOX, "command -v mariadbd || echo none").strip() == "none", "refused, yet changed"
        # The control: restored to the second before the stream began, a VPS has none of the bookings
        # it acknowledged, and the count below says so.
        early = drill.run("restore.py", "--data", f"restore_at={utc(load_started - 1)}")
        assert early.returncode == 0, early.log[-3000:]
        assert int(drill.sql(count)) == 0, "a restore to before the stream holds some of its bookings"
        vps.down(BOX)

    # A new VPS under the same name, as a team orders one from its provider.
    ordered = time.monotonic()
    with phase("drill: new VPS"):
        drill.address = vps.up(BOX, RELEASE, NETWORK)["address"]
    started, restore_began = time.monotonic(), time.time()
    with phase("drill: restore"):
        restored = drill.run("restore.py", "--data", "restore_at=latest")
    restored_s = time.monotonic() - started
    assert restored.returncode == 0, restored.log[-3000:]
    with phase("drill: deploy"):
        deployed = drill.run("deploy.py")
    assert deployed.returncode == 0, deployed.log[-3000:]
    serving = wait_until(lambda: booked(drill.address, f"drill-{random.token_hex(8)}") == 201, 120)
    rto = time.monotonic() - started
    present = set(drill.sql(f"SELECT idempotency_key FROM bookings WHERE idempotency_key IN ({listed});").split())
    lost = [answered_at[key] for key in before if key not in present]
    kept = len(before) - len(lost)
    rpo_s = lost_at - min(lost) if lost else 0.0
    restored_mb = on_disk()

    # The backups go on from the rebuilt VPS.
    key = f"drill-after-{random.token_hex(8)}"
    assert booked(drill.address, key) == 201
    shipped = wait_until(lambda: vps.sh(KEEPER, f"grep -l -a {key} {BINLOGS}/{BOX}/* || true").strip() != "",
                         SHIPPED_BOUND_S)
    # In a span of their own, from a base backup of the new server: the new server numbers its binary
    # logs from 1 again, so the lost server's are set aside, never overwritten by them.
    span = json.loads(vps.sh(KEEPER, f"{backup.TOOL} coverage {BOX}"))
    aside = vps.sh(KEEPER, f"ls -d {BINLOGS}/{BOX}.before-* 2>/dev/null || true").split()
    for run in (drill.first, restored, deployed):
        for name, value in drill.env.items():
            if name.startswith("PEAKREADY_SECRET_"):
                assert value not in run.log, f"{name} printed by a drill's pyinfra run"

    what = f"a database of {size} MB on disk" if DB_MB else f"the sample data ({size} MB on disk)"
    line = (f"single-host drill, {what}: the VPS destroyed with its disk {lost_at - load_started:.0f} s into a write "
            f"stream; {len(before) - kept} of {len(before)} acknowledged bookings lost (RPO {rpo_s:.1f} s); a new VPS made in "
            f"{started - ordered:.0f} s, restored (restore.py: {restored_mb} MB) in {restored_s:.0f} s, deployed (deploy.py) in "
            f"{rto - restored_s:.0f} s: the app took a booking again {rto:.0f} s after the restore began")
    FIGURES.write_text(line + "\n")
    print(line)
    assert rpo_s <= RPO_BOUND_S, f"bookings acknowledged up to {rpo_s:.1f} s before the loss are missing"
    assert serving and rto < RTO_BOUND_S, f"the app did not take a booking within {RTO_BOUND_S} s of the restore"
    assert shipped, f"a booking on the rebuilt VPS was not shipped within {SHIPPED_BOUND_S} s"
    assert span["bases"] >= 1 and span["from"] >= restore_began, f"no base backup of the rebuilt VPS: {span}"
    assert aside, f"the lost server's binary logs were not set aside on {KEEPER}"
