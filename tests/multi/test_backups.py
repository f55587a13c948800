"""Backups on the reference topology: app2 (backup_servers) pulls base backups from the primary and
copies its binary logs as they are written; a table dropped by mistake is undone on a fresh VPS, to
the second before. Runs after test_scale_out.py (`make multi` names the order): it rebuilds db2 as
the restore target, which no later test needs."""

from __future__ import annotations

import collections
import datetime as dt
import json
import math
import re
import time
import uuid

from peakready import PORTS, backup, knobs
from peakready.backup import SCRATCH
from targets import multi, vps
from tests.multi.conftest import MOMENTS, RELEASE, REPORT
from tests.multi.test_scale_out import SECRETS, on_db, post_booking
from tests.wait import wait_until

# Measured figures: the report (.peakready/multi.md). Each bound is several times its figure.
SHIPPED_BOUND_S = 10  # a booking is in the backup host's copy of the binary log within this (measured: see the report)
RESTORE_BOUND_S = 600  # restore.py rebuilds a fresh VPS from the sample data within this
RTO_BOUND_S = 1800  # ...and, made the primary and deployed, the site takes a booking within this of the restore's start
LOSS_LOAD_S = 45  # the host-destroyed drill's write stream: flowing within its first 39 s, then the loss
# An alert fires (and resolves) within this: its window (4 scrapes of 5 s), its for (10 s), a scrape
# and an evaluation.
ALERT_BOUND_S = 120
BACKUP_ROOT = knobs.defaults()["backup_root"]
BINLOGS = f"{BACKUP_ROOT}/binlogs"
TOOL = backup.TOOL


def utc(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def fresh(topo, name: str) -> None:
    """`name` lost with its disk; a fresh VPS takes its name, at a new address."""
    vps.down(topo.container(name))
    topo.infos[name] = vps.up(topo.container(name), RELEASE, topo.prefix, *multi.HOSTS[name][1:])


def test_the_backup_host_has_a_base_backup_of_the_primary_and_its_binary_logs_within_seconds(topo):
    # After test_scale_out's switchover db1 is the primary again. Its binary logs on app2 have a gap
    # (it was killed, then a replica): the first deploy of app2 that follows the promotion (this one,
    # or the release rolled before it: test_release.py) starts a new span of them and takes the
    # span's first base backup, and a restore reaches no second before it.
    started = MOMENTS.get("switchover", time.time())
    deployed = topo.run("deploy.py")
    assert deployed.returncode == 0, deployed.log[-3000:]
    covered = json.loads(topo.sh("app2", f"{TOOL} coverage db1"))
    assert covered["bases"] == 1 and covered["from"] >= started, covered

    key = f"shipped-{uuid.uuid4().hex}"
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=9)).replace(microsecond=0).isoformat()
    code, _ = post_booking(topo, "app1", key, when)
    answered = time.monotonic()
    assert code == 201
    shipped = wait_until(lambda: topo.sh("app2", f"grep -l -a {key} {BINLOGS}/db1/* || true").strip() != "",
                         SHIPPED_BOUND_S)
    seconds = time.monotonic() - answered
    REPORT.append(f"backups: a booking was in app2's copy of db1's binary log {seconds:.1f} s after its 201; "
                  f"{covered['bases']} base backup(s) of db1")
    assert shipped, f"not shipped within {SHIPPED_BOUND_S} s"


def query(topo, promql: str) -> list[dict]:
    return json.loads(topo.sh("lb", f"curl -sf --data-urlencode 'query={promql}' "
                                    f"http://127.0.0.1:{PORTS['prometheus']}/api/v1/query"))["data"]["result"]


def firing(topo) -> set[str]:
    """The alerts Prometheus on lb has firing."""
    alerts = json.loads(topo.sh("lb", f"curl -sf http://127.0.0.1:{PORTS['prometheus']}/api/v1/alerts"))["data"]["alerts"]
    return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}


def test_binary_logs_not_shipped_fire_their_alert_and_it_resolves(topo):
    """The figures reach Prometheus (the backup host's node exporter reads them); with the shipping
    stopped under writes, BinlogShippingBehind fires; shipped again, it resolves."""
    found = query(topo, "peakready_backup_base_last_timestamp_seconds")
    assert [(r["metric"]["source"], r["metric"]["host"]) for r in found] == [("db1", "app2")], found
    assert "BinlogShippingBehind" not in firing(topo), "the control: nothing behind, no alert"
    topo.sh("app2", "systemctl stop peakready-binlog-ship.service")
    try:
        when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=10)).replace(microsecond=0).isoformat()
        assert post_booking(topo, "app1", f"unshipped-{uuid.uuid4().hex}", when)[0] == 201
        topo.sh("app2", f"{TOOL} metrics")  # what its timer does every minute
        start = time.monotonic()
        fired = wait_until(lambda: "BinlogShippingBehind" in firing(topo), ALERT_BOUND_S)
        fired_s = time.monotonic() - start
    finally:
        topo.sh("app2", "systemctl start peakready-binlog-ship.service")
    start = time.monotonic()
    resolved = wait_until(lambda: (topo.sh("app2", f"{TOOL} metrics") is not None
                                   and "BinlogShippingBehind" not in firing(topo)), ALERT_BOUND_S)
    REPORT.append(f"backups: shipping stopped under writes: BinlogShippingBehind fired after {fired_s:.0f} s; "
                  f"shipping again, it resolved after {time.monotonic() - start:.0f} s")
    assert fired and resolved


def restore_test(topo) -> tuple[int, str]:
    """The restore test as its timer starts it: the unit's exit code and its last word in the journal."""
    code = int(topo.sh("app2", "systemctl start peakready-backup-restore-test.service >/dev/null 2>&1; echo $?",
                       timeout=600))
    said = topo.sh("app2", "journalctl -u peakready-backup-restore-test.service -o cat -n 30 "
                           "| grep 'restore test of db1' | tail -1")  # its own line, not the unit's
    return code, said.strip()


def test_the_restore_test_passes_and_lost_binary_logs_fire_its_alert_and_it_resolves(topo):
    """The deploy ran a restore test after the span's first base backup (its figure is in Prometheus);
    run again as its timer does, it restores the newest base backup into a scratch server on app2,
    replays the binary logs since it and checks the app's tables. The control: with the binary logs
    it needs gone from app2, it fails and RestoreTestFailed fires; back, it passes and the alert resolves."""
    assert wait_until(lambda: [r["value"][1] for r in query(topo, "peakready_backup_restore_test_ok")] == ["1"], 30)
    code, said = restore_test(topo)
    counted = re.search(r"restore test of db1: \d+ tables, ([1-9]\d*) rows", said)
    assert code == 0 and counted, said
    # The binary logs are replayed, not only the base backup restored: a booking written since the
    # newest base backup is one more row in the copy.
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=12)).replace(microsecond=0).isoformat()
    assert post_booking(topo, "app1", f"replayed-{uuid.uuid4().hex}", when)[0] == 201
    time.sleep(2)  # shipped in 0.1 s (above)
    started = time.monotonic()
    code, said = restore_test(topo)
    seconds = time.monotonic() - started
    again = re.search(r"restore test of db1: \d+ tables, (\d+) rows", said)
    assert code == 0 and again and int(again.group(1)) >= int(counted.group(1)) + 1, (counted.group(0), said)
    assert "RestoreTestFailed" not in firing(topo)
    # Lost: the shipping stopped, every binary log here renamed out of the tool's sight.
    hide = f"cd {BINLOGS}/db1 && for f in *.[0-9][0-9][0-9][0-9][0-9][0-9]; do mv $f $f.hidden; done"
    show = f"cd {BINLOGS}/db1; for f in *.hidden; do [ -e \"$f\" ] && mv \"$f\" \"${{f%.hidden}}\"; done"
    topo.sh("app2", f"systemctl stop peakready-binlog-ship.service && {hide}")
    try:
        broken_code, broken_said = restore_test(topo)
        start = time.monotonic()
        fired = wait_until(lambda: "RestoreTestFailed" in firing(topo), ALERT_BOUND_S)
        fired_s = time.monotonic() - start
    finally:
        topo.sh("app2", f"{show}; systemctl start peakready-binlog-ship.service")
    assert broken_code != 0 and "is not on this host" in broken_said, broken_said
    assert topo.sh("app2", f"ls -A {SCRATCH}").strip() == "", "the scratch copy was left"
    assert restore_test(topo)[0] == 0
    start = time.monotonic()
    resolved = wait_until(lambda: "RestoreTestFailed" not in firing(topo), ALERT_BOUND_S)
    REPORT.append(f"restore test on app2: {said.split(': ', 1)[1]} ({seconds:.0f} s with the unit); binary logs "
                  f"gone: it failed, RestoreTestFailed fired after {fired_s:.0f} s; back, resolved after "
                  f"{time.monotonic() - start:.0f} s")
    assert fired and resolved


ROTATED = ("restic_password", "backup_ssh_seed", "mariadb_binlog_password")


def test_the_backup_secrets_rotate_in_one_deploy_and_the_old_ones_are_refused(topo):
    """A team rotates a secret by removing its entry from the secrets file and deploying once (the
    deploy generates it again). The repository's password, the backup host's SSH key (from
    backup_ssh_seed) and the binary log login all change in that deploy; each old value is refused
    after it, and the shipping and a base backup go on with the new ones (the drills below restore
    with them)."""
    old = {name: SECRETS.get(name) for name in ROTATED}
    old_key = topo.sh("app2", f"cat {backup.SSH_KEY}")
    with SECRETS._locked():
        stored = SECRETS._load()
        for name in ROTATED:
            del stored[name]
        SECRETS._save(stored)
    deployed = topo.run("deploy.py")
    assert deployed.returncode == 0, deployed.log[-3000:]
    assert all(SECRETS.get(name) != old[name] for name in ROTATED)
    for name in ROTATED:
        assert old[name] not in deployed.log and SECRETS.get(name) not in deployed.log, f"{name} printed by the deploy"
    db1, user = topo.address("db1"), knobs.defaults()["backup_binlog_user"]  # the multi inventory keeps the defaults
    files = "/root/.peakready-test-rotation"
    topo.sh("app2", f"umask 077; mkdir -p {files} && cat > {files}/restic-old", stdin=old["restic_password"])
    topo.sh("app2", f"cat > {files}/key-old", stdin=old_key)
    topo.sh("app2", f"cat > {files}/binlog-old.cnf", stdin=f"[client]\nuser={user}\npassword={old['mariadb_binlog_password']}\n")
    try:
        restic = f"RESTIC_REPOSITORY={BACKUP_ROOT}/restic RESTIC_CACHE_DIR={BACKUP_ROOT}/cache restic --no-lock"
        opens = lambda file: topo.sh("app2", f"RESTIC_PASSWORD_FILE={file} {restic} cat config >/dev/null 2>&1; echo $?")  # noqa: E731
        assert opens(backup.PASSWORD).strip() == "0" and opens(f"{files}/restic-old").strip() != "0"
        assert len(json.loads(topo.sh("app2", f"RESTIC_PASSWORD_FILE={backup.PASSWORD} {restic} key list --json"))) == 1
        ssh = f"ssh -F {backup.SSH_CONFIG} db1"
        assert "no restore is armed" in topo.sh("app2", f"{ssh} restore-check 2>&1 || true")
        refused = topo.sh("app2", f"ssh -F /dev/null -i {files}/key-old -o IdentitiesOnly=yes -o BatchMode=yes "
                                  f"-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@{db1} restore-check 2>&1 || true")
        assert "Permission denied" in refused, refused
        login = "mariadb --defaults-extra-file={} -h " + db1 + " -N -B -e 'SELECT 1' >/dev/null 2>&1; echo $?"
        assert topo.sh("app2", login.format(backup.BINLOG_CNF)).strip() == "0"
        assert topo.sh("app2", login.format(f"{files}/binlog-old.cnf")).strip() != "0"
    finally:
        topo.sh("app2", f"rm -rf {files}")
    # Shipping and base backups go on with the new ones.
    key = f"rotated-{uuid.uuid4().hex}"
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=11)).replace(microsecond=0).isoformat()
    assert post_booking(topo, "app1", key, when)[0] == 201
    assert wait_until(lambda: topo.sh("app2", f"grep -l -a {key} {BINLOGS}/db1/* || true").strip() != "",
                      SHIPPED_BOUND_S), "not shipped after the rotation"
    assert topo.sh("app2", "systemctl start peakready-backup-base.service >/dev/null 2>&1; echo $?").strip() == "0"
    REPORT.append(f"backups: {', '.join(ROTATED)} rotated in one deploy ({deployed.seconds:.0f} s); each old value "
                  "refused after it; shipping and a base backup go on with the new ones")


def test_the_db_hosts_take_the_backup_key_for_the_forced_command_only(topo):
    # From app2, with its key: a shell is refused, the forced command answers (no restore armed).
    ssh = "ssh -F /etc/peakready-backup/backup-ssh.conf db1"
    assert "not: id" in topo.sh("app2", f"{ssh} id 2>&1 || true")
    assert "no restore is armed" in topo.sh("app2", f"{ssh} restore-check 2>&1 || true")
    # The control: the same key from another address (lb) is refused by the from= option.
    topo.sh("lb", "umask 077; cat > /root/.peakready-test-key", stdin=topo.sh("app2", "cat /etc/peakready-backup/backup-ssh-key"))
    try:
        out = topo.sh("lb", f"ssh -i /root/.peakready-test-key -o IdentitiesOnly=yes -o BatchMode=yes "
                            f"-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@{topo.address('db1')} "
                            "restore-check 2>&1 || true")
    finally:
        topo.sh("lb", "rm -f /root/.peakready-test-key")
    assert "Permission denied" in out, out


def test_a_dropped_table_is_undone_on_a_fresh_vps_to_the_second_before(topo):
    """The mistake: under a stream of bookings, a bad migration drops the bookings table and makes it
    again, empty, at second T; the app goes on booking into the new one. restore.py rebuilds a fresh
    VPS to T - 1 s: every booking acknowledged before that second is there, none sent after it is."""
    load = topo.traffic(seconds=12, budget=5000, readers=1, writers=3)
    time.sleep(5 + (1 - time.time() % 1) + 0.2)  # mid-load, just past the start of a second
    dropped = math.floor(time.time())  # the mistake's second, or (a slow exec) one before it
    topo.sh("db1", "mariadb peakready", stdin="CREATE TABLE bookings_new LIKE bookings; DROP TABLE bookings; "
                                             "RENAME TABLE bookings_new TO bookings;")
    result = topo.collect(load)
    acked = result["acked"]
    at = dropped - 1  # the restore's second: everything committed before its end, nothing later
    before = [k for k, _sent, answered in acked if answered < at]
    after = [k for k, sent, _answered in acked if sent >= at + 1]
    assert before and after, f"the load must straddle the mistake: {len(before)} before, {len(after)} after"

    fresh(topo, "db2")
    # Refused before any change: a time the backups do not cover.
    early = topo.run("restore.py", "--data", "restore_at=2020-01-01 00:00:00", "--data", "restore_to=db2")
    assert early.returncode != 0 and "is outside what the backups of db1 cover" in early.log, early.log[-2000:]
    assert topo.sh("db2", "command -v mariadbd || echo none").strip() == "none", "refused, yet changed"
    started = time.monotonic()
    restored = topo.run("restore.py", "--data", f"restore_at={utc(at)}", "--data", "restore_to=db2")
    seconds = time.monotonic() - started
    assert restored.returncode == 0, restored.log[-3000:]
    kept, leaked = on_db(topo, "db2", before), on_db(topo, "db2", after)
    REPORT.append(f"mistake drill: table dropped at {utc(dropped)}, a fresh VPS restored to {utc(at)} in {seconds:.0f} s "
                  f"(restore.py); {kept} of {len(before)} bookings acknowledged before that second there, "
                  f"{leaked} of {len(after)} sent after it")
    assert (kept, leaked) == (len(before), 0)
    assert seconds < RESTORE_BOUND_S
    # Refused before any change: the rebuilt host now holds the database (a second restore onto it).
    again = topo.run("restore.py", "--data", f"restore_at={utc(at)}", "--data", "restore_to=db2")
    assert again.returncode != 0 and "db2 still holds the database peakready" in again.log, again.log[-2000:]
    assert on_db(topo, "db2", before) == len(before)
    assert topo.sh("db2", "test -e /etc/peakready-backup/restore-armed && echo armed || echo no").strip() == "no"


def test_the_primary_destroyed_under_writes_is_rebuilt_with_its_acknowledged_bookings_and_serves_again(topo):
    """The primary's host is lost with its disk, under a stream of bookings, and the backups are the
    only copy (the replica, too, is gone). restore.py rebuilds a fresh VPS to the second of the loss:
    the acknowledged bookings it lacks are the RPO. Then it is made the primary (promote.py: a
    failover, db1 is gone) and deploy.py follows it: the time from the restore's start until the site
    takes a booking through lb's nginx is the RTO."""
    fresh(topo, "db2")
    count = "SELECT COUNT(*) FROM bookings WHERE idempotency_key LIKE 'multi-%';"
    at_start = int(topo.sh("db1", "mariadb -N -B peakready", stdin=count))
    stop = "/run/peakready-loss-stop"
    load, load_started = topo.traffic(seconds=LOSS_LOAD_S, budget=5000, readers=1, writers=3, stop=stop), time.time()
    # Lost once the stream is flowing: bookings of this load committed on it (not after a fixed sleep:
    # a first request may wait on ProxySQL's connect timeouts to the replica that fresh() removed).
    flowing = wait_until(lambda: int(topo.sh("db1", "mariadb -N -B peakready", stdin=count)) >= at_start + 20,
                         LOSS_LOAD_S - 6)
    lost_at = time.time()
    # The host and its disk; its record stays, so the inventory still names it (unreachable).
    vps.client().containers.get(topo.container("db1")).remove(force=True, v=True)
    topo.sh("lb", f"touch {stop}")  # the stream ends: what it sent from now on cannot be acknowledged
    result = topo.collect(load)
    before = [k for k, _sent, answered in result["acked"] if answered < lost_at]
    seen = collections.Counter((kind, outcome) for sent, kind, outcome, _answered in result["log"] if sent < lost_at)
    assert flowing and before, f"no stream of bookings before the loss: {len(before)} acknowledged; the load saw {seen}"
    started = time.monotonic()
    # To the newest second the backups hold (the last write copied, or the last time the copy had
    # caught up): the operator's command after losing the only copy.
    restored = topo.run("restore.py", "--data", "restore_at=latest", "--data", "restore_to=db2",
                        "--data", "restore_source=db1")
    seconds = time.monotonic() - started
    assert "db1" in restored.log  # unreachable: pyinfra says so, and the restore goes on without it
    assert restored.results and not [op for op in restored.results["operations"] if op["error"]], restored.log[-3000:]
    kept = on_db(topo, "db2", before)
    at = re.search(r"restored db2 to (\S+ \S+) from db1", restored.log)
    REPORT.append(f"host destroyed: db1 removed with its disk under writes at {utc(lost_at)} ({lost_at - load_started:.0f} s "
                  f"into the stream); a fresh VPS restored to "
                  f"{at.group(1) if at else '?'} (latest) in {seconds:.0f} s; {len(before) - kept} of {len(before)} "
                  "acknowledged bookings lost")
    assert kept == len(before)
    assert seconds < RESTORE_BOUND_S

    promoted = topo.run("promote.py", "--data", "promote=db2")  # db1 does not answer: pyinfra's exit code says so
    assert promoted.results and not [op for op in promoted.results["operations"] if op["error"]], promoted.log[-3000:]
    assert "db2 takes writes" in promoted.log, promoted.log[-3000:]
    deployed = topo.run("deploy.py")  # db1 does not answer: pyinfra says so; every other host follows db2
    assert deployed.results and not [op for op in deployed.results["operations"] if op["error"]], deployed.log[-3000:]
    serving = wait_until(lambda: booked_through_lb(topo) == 201, 120)
    rto = time.monotonic() - started
    REPORT.append(f"host destroyed: the site took a booking again {rto:.0f} s after the restore began (restore "
                  f"{seconds:.0f} s, promote.py {promoted.seconds:.0f} s, deploy.py {deployed.seconds:.0f} s)")
    assert serving and rto < RTO_BOUND_S, f"no booking through lb within {RTO_BOUND_S} s of the restore's start"


def booked_through_lb(topo) -> int:
    """A booking through lb's nginx, as a visitor's: the status it answers (0: none)."""
    body = json.dumps({"outlet_id": 1, "name": "Rto", "phone": "+62 812 5550 1234", "party_size": 2,
                       "time": (dt.datetime.now(dt.UTC) + dt.timedelta(days=9)).replace(microsecond=0).isoformat()})
    out = topo.sh("lb", f"curl -s -o /dev/null -m 10 -w '%{{http_code}}' -X POST -H 'Host: localhost' "
                        f"-H 'Content-Type: application/json' -H 'Idempotency-Key: rto-{uuid.uuid4().hex}' "
                        "--data-binary @- http://127.0.0.1/api/v1/bookings || true", stdin=body)
    return int(out.strip() or 0)
