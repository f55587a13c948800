"""The reference topology deployed by the same deploy.py: lb -> app1, app2 (each with ProxySQL) ->
db1 (primary, and Redis) -> db2 (semi-synchronous replica). Runs in file order: the topology is
changed by the later tests (a host stopped, the primary killed and replaced)."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from peakready import PORTS
from peakready.secrets import Secrets
from tests.leaks import Hidden
from tests.multi.conftest import MOMENTS, REPORT
from tests.multi.judge import LEAD_S, back_within, count, failures, last_failure_within, load_seconds, unseen
from tests.wait import wait_until

SECRETS = Secrets("docker_multi")
LAG_BOUND_S = 5  # a booking on the primary is on the replica within this (measured: see the report)
# Bookings resume within this after the primary is killed and promote.py runs (measured 3.7 and 5.1 s:
# docs/several-hosts.md); the load runs past it (judge.load_seconds), so a later return fails.
WRITES_BACK_BOUND_S = 30
# app1's stop: the requests in flight until it has stopped, and STOP_MOMENT_S more (measured: 0 or 1 fail)
STOP_MOMENT_S, STOP_MOMENT_FAILURES = 1.0, 3
# A switchover refuses no booking later than this after promote.py starts (measured: none refused);
# the load runs past it.
SWITCH_WINDOW_BOUND_S = 20


def reachable(topo, client: str, server: str, port: int) -> bool:
    """A TCP connection from `client` to `server`'s private address answers within 3 s."""
    out = topo.sh(client, f"timeout 3 bash -c '</dev/tcp/{topo.address(server)}/{port}' && echo open || echo closed")
    return out.strip() == "open"


def post_booking(topo, via: str, key: str, when: str) -> tuple[int, dict]:
    """A booking at `when` straight to the app on `via` (app1 or app2), from lb, as nginx would send it."""
    body = json.dumps({"outlet_id": 1, "name": "Ayu", "phone": "+62 812 5550 1234", "party_size": 2, "time": when})
    out = topo.sh("lb", f"curl -s -w '\\n%{{http_code}}' -X POST -H 'Host: localhost' -H 'Content-Type: application/json' "
                        f"-H 'Idempotency-Key: {key}' --data-binary @- http://{topo.address(via)}:8000/api/v1/bookings",
                  stdin=body)
    answer, code = out.rsplit("\n", 1)
    return int(code), json.loads(answer)


def on_db(topo, db: str, keys: list[str]) -> int:
    """How many of the bookings `keys` are on `db`."""
    if not keys:
        return 0
    listed = ",".join(f"'{k}'" for k in keys)
    return int(topo.sh(db, "mariadb -N -B peakready", stdin=f"SELECT COUNT(*) FROM bookings WHERE idempotency_key IN ({listed});").strip())


def replication_seen(topo) -> list[dict]:
    """The app's /health "replication" (through lb's nginx)."""
    return json.loads(topo.sh("lb", "curl -s -H 'Host: localhost' http://127.0.0.1/health")).get("replication", [])


def slave_status(topo, db: str) -> dict[str, str]:
    lines = topo.sh(db, "mariadb -e 'SHOW SLAVE STATUS\\G'").splitlines()
    return {k.strip(): v.strip() for k, _, v in (line.partition(": ") for line in lines) if v}


def proxysql(topo, app: str, query: str) -> list[list[str]]:
    out = topo.sh(app, "mariadb --defaults-file=/root/.peakready-proxysql-admin.cnf -N -B", stdin=query)
    return [line.split("\t") for line in out.splitlines()]


def test_a_second_deploy_of_the_whole_topology_changes_nothing(topo):
    second = topo.run("deploy.py")
    assert second.returncode == 0, second.log[-3000:]
    assert second.changed == [], f"changed on a second run: {second.changed}"
    REPORT.append(f"second deploy (5 hosts, 0 changes): {second.seconds:.0f} s")


@pytest.mark.parametrize("client,server,port,open_", [
    ("app1", "db1", 3306, True), ("app2", "db1", 3306, True), ("db2", "db1", 3306, True),
    ("lb", "db1", 3306, False), ("lb", "db2", 3306, False),
    ("app1", "db1", 6379, True), ("lb", "db1", 6379, False), ("db2", "db1", 6379, False),
    ("lb", "app1", 8000, True), ("db1", "app1", 8000, False), ("app2", "app1", 8000, False),
    ("app1", "app2", 6033, False), ("lb", "app1", 6032, False),
    # Prometheus on lb (the monitoring group) reaches every exporter; no other host does.
    *[(client, server, PORTS[service], client == "lb") for client, server, service in (
        ("lb", "db1", "mysqld_exporter"), ("lb", "db1", "redis_exporter"), ("lb", "db2", "node_exporter"),
        ("lb", "app1", "proxysql_metrics"), ("app1", "db1", "mysqld_exporter"), ("db2", "db1", "redis_exporter"),
        ("app2", "app1", "proxysql_metrics"), ("db1", "app2", "node_exporter"), ("app1", "lb", "nginx_exporter"),
        ("app1", "lb", "prometheus"))],
])
def test_each_tier_is_reachable_only_from_the_tier_that_uses_it(topo, client, server, port, open_):
    assert reachable(topo, client, server, port) is open_


# What Prometheus on lb scrapes on each host (targets/multi.py's groups).
JOBS = {"lb": {"node", "nginx", "nginx_log", "prometheus"}, "app1": {"node", "proxysql", "app"},
        "app2": {"node", "proxysql", "app"}, "db1": {"node", "mariadb", "redis"}, "db2": {"node", "mariadb"}}


def test_prometheus_scrapes_every_host_over_its_private_address(topo):
    def targets():
        found = json.loads(topo.sh("lb", "curl -sf http://127.0.0.1:9090/api/v1/targets"))["data"]["activeTargets"]
        return found if found and all(t["health"] == "up" for t in found) else None

    found, start = None, time.monotonic()
    while not found:
        assert time.monotonic() - start < 90, "not every target is up within 90 s"
        found = targets()
        time.sleep(0 if found else 2)
    jobs: dict[str, set] = {}
    for t in found:
        host = t["labels"]["host"]
        jobs.setdefault(host, set()).add(t["labels"]["job"])
        address = "127.0.0.1" if host == "lb" else topo.address(host)
        assert t["scrapeUrl"].startswith(f"http://{address}:"), (host, t["scrapeUrl"])
    assert jobs == JOBS
    # The replica's replication, as its exporter reads it (the ReplicaStopped and lag alerts' input).
    q = json.loads(topo.sh("lb", "curl -sf --get --data-urlencode 'query=mysql_slave_status_slave_sql_running' "
                                 "http://127.0.0.1:9090/api/v1/query"))["data"]["result"]
    assert {(r["metric"]["host"], r["value"][1]) for r in q} == {("db2", "1")}
    REPORT.append(f"Prometheus on lb: {len(found)} targets on 5 hosts up after {time.monotonic() - start:.0f} s")


def test_a_booking_through_app1_is_on_the_replica_and_read_through_app2(topo):
    key = f"multi-{uuid.uuid4().hex}"
    # One body for both: a replay with another time is another request (409), not the same booking.
    when = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0).isoformat()
    code, booking = post_booking(topo, "app1", key, when)
    assert code == 201, booking
    start = time.monotonic()
    while on_db(topo, "db2", [key]) == 0:
        assert time.monotonic() - start < LAG_BOUND_S, f"not on db2 after {LAG_BOUND_S} s"
        time.sleep(0.05)
    seen_after = time.monotonic() - start
    code, again = post_booking(topo, "app2", key, when)
    assert code == 200 and again["id"] == booking["id"], "app2 reads the same booking (the key replayed)"
    status = slave_status(topo, "db2")
    assert (status["Slave_IO_Running"], status["Slave_SQL_Running"]) == ("Yes", "Yes")
    assert status["Master_Host"] == topo.address("db1")
    semi = topo.sh("db1", "mariadb -N -B -e \"SHOW STATUS LIKE 'Rpl_semi_sync_master_status'\"").split()
    assert semi == ["Rpl_semi_sync_master_status", "ON"]
    health = json.loads(topo.sh("lb", "curl -s -H 'Host: localhost' http://127.0.0.1/health"))
    assert health["mariadb"] == "ok"
    # /health answers anyone: the state, never the servers' private addresses (those are in /metrics,
    # which answers this host only).
    replica = {"role": "replica", "up": True, "read_only": True, "behind_transactions": 0}
    assert wait_until(lambda: replica in replication_seen(topo)), replication_seen(topo)
    assert topo.address("db2") not in json.dumps(replication_seen(topo))
    metrics = topo.sh("lb", "curl -s -H 'Host: localhost' http://127.0.0.1/metrics")
    assert f'peakready_db_replica_behind_transactions{{server="{topo.address("db2")}:3306"}} ' in metrics
    assert f'peakready_db_server_read_only{{server="{topo.address("db1")}:3306",role="primary"}} 0' in metrics
    REPORT.append(f"replication: a booking via app1 was on db2 {seen_after * 1000:.0f} ms after its 201 "
                  f"(Seconds_Behind_Master {status['Seconds_Behind_Master']})")


@pytest.mark.parametrize("app", ["app1", "app2"])
def test_selects_go_to_readers_writes_and_locking_reads_to_the_writer(topo, app):
    """Through ProxySQL on each app host, as the app's user: each statement carries an alias of its
    own, so stats_mysql_query_digest says which hostgroup (10 writer, 20 reader) ran it."""
    tag = uuid.uuid4().hex[:8]
    statements = {  # alias -> (statement, the hostgroup it must run on)
        f"r{tag}": (f"SELECT COUNT(*) AS r{tag} FROM outlets", "20"),
        f"u{tag}": (f"SELECT COUNT(*) AS u{tag} FROM bookings FOR UPDATE", "10"),
        f"s{tag}": (f"SELECT COUNT(*) AS s{tag} FROM bookings LOCK IN SHARE MODE", "10"),
        f"w{tag}": (f"UPDATE outlets AS w{tag} SET name = name WHERE id = 0", "10"),
        f"t{tag}": (f"SELECT COUNT(*) AS t{tag} FROM menu_items", "10"),  # inside a transaction
    }
    script = "".join(f"{sql};\n" for alias, (sql, _) in statements.items() if alias != f"t{tag}")
    script += f"START TRANSACTION;\n{statements[f't{tag}'][0]};\nCOMMIT;\n"
    password = Hidden(SECRETS.get("mariadb_app_password"))
    cnf = f"[client]\nuser=app\npassword={password}\nhost=127.0.0.1\nport=6033\ndatabase=peakready\n"
    topo.sh(app, "umask 077; cat > /root/.multi-test.cnf", stdin=cnf)
    try:
        topo.sh(app, "mariadb --defaults-file=/root/.multi-test.cnf -N -B", stdin=script)
    finally:
        topo.sh(app, "rm -f /root/.multi-test.cnf")
    digests = proxysql(topo, app, f"SELECT hostgroup, digest_text FROM stats_mysql_query_digest "
                                  f"WHERE digest_text LIKE '%{tag}%';")
    ran_on = {alias: sorted(h for h, text in digests if alias in text) for alias in statements}
    assert ran_on == {alias: [hostgroup] for alias, (_, hostgroup) in statements.items()}, digests


def test_under_load_an_app_host_then_the_replica_can_stop(topo):
    """app1's app stops: nginx sends its requests to app2 (a refused connection is retried at once).
    db2's MariaDB stops: ProxySQL sends the reads to the primary, the low-weight reader."""
    load = topo.traffic(seconds=34, budget=20000, readers=3, writers=1)
    time.sleep(4)
    app_stop = time.time()
    topo.sh("app1", "systemctl stop peakready-app")  # graceful: returns once the app has stopped
    app_stopped = time.time()
    time.sleep(8)
    topo.sh("app1", "systemctl start peakready-app")
    time.sleep(4)
    db_stop = time.time()
    topo.sh("db2", "systemctl stop mariadb")
    replica_down = {"role": "replica", "up": False}
    seen_down = wait_until(lambda: replica_down in replication_seen(topo))
    time.sleep(max(0.0, 10 - (time.time() - db_stop)))
    db_start = time.time()
    topo.sh("db2", "systemctl start mariadb")
    log = topo.collect(load)["log"]
    settled = app_stopped + STOP_MOMENT_S
    at_stop = sum(failures(log, kind, app_stop, settled) for kind in ("read", "write"))
    after_app = sum(failures(log, kind, settled, db_stop) for kind in ("read", "write"))
    during_db = failures(log, "read", db_stop, db_start)
    REPORT.append(f"app1 stopped under load: {at_stop} failed while it stopped, {after_app} after, of "
                  f"{sum(1 for s, _, _, _ in log if app_stop <= s < db_stop)} requests; "
                  f"db2 stopped: {during_db} failed reads of "
                  f"{count(log, 'read', db_stop, db_start)}")
    assert count(log, "read") > 100 and count(log, "write") > 20, "the load ran"
    for kind, end in (("read", db_start), ("write", db_stop)):  # every window above was under load to its end
        assert not unseen(log, kind, end), unseen(log, kind, end)
    # The moment app1 stops, a booking nginx has just sent it on a kept-alive connection can fail (a
    # POST is never resent: the app may have acted on it); from then on nginx sends app2 everything.
    assert at_stop <= STOP_MOMENT_FAILURES
    assert after_app == 0
    assert during_db == 0
    assert seen_down, "/health reports the replica down"
    topo.sh("db2", "for i in $(seq 60); do mariadb -N -B -e 'SHOW SLAVE STATUS' | grep -q 'Yes.*Yes' && exit 0; "
                   "sleep 0.5; done; exit 1")


def test_the_primary_killed_then_failover_loses_no_acknowledged_booking(topo):
    load = topo.traffic(seconds=load_seconds(WRITES_BACK_BOUND_S), budget=20000, readers=2, writers=3)
    time.sleep(LEAD_S)
    killed = time.time()
    subprocess.run(["docker", "kill", "-s", "KILL", topo.container("db1")], check=True, capture_output=True)
    promoted = topo.run("promote.py", "--data", "promote=db2")
    promote_s = time.time() - killed
    result = topo.collect(load)
    log, acknowledged = result["log"], result["acknowledged"]
    assert promoted.results and promoted.results["operations"], promoted.log[-3000:]
    lost = len(acknowledged) - on_db(topo, "db2", acknowledged)
    back = back_within(log, "write", killed, WRITES_BACK_BOUND_S, settle_s=0.5, ok=(201,))
    REPORT.append(f"failover: db1 killed (-9), promote.py done {promote_s:.1f} s later; bookings resumed "
                  f"(answered) after {back.figure if back.figure is None else round(back.figure, 1)} s; "
                  f"{failures(log, 'write', killed)} bookings failed meanwhile; {len(acknowledged)} acknowledged, {lost} lost")
    assert lost == 0
    assert back.ok, f"{back.problem}\n{promoted.log[-2000:]}"


def test_while_the_old_primary_is_down_the_deploy_updates_every_other_host(topo):
    """After the failover, before db1 is back: pyinfra cannot reach db1 (and says so in its exit
    code), and every other host is deployed for the new primary without an error."""
    dead = topo.run("deploy.py")
    assert dead.results, dead.log[-3000:]
    assert dead.returncode != 0 and "db1" in dead.log and "Could not connect" in dead.log
    assert not [op["name"] for op in dead.results["operations"] if op["error"]], dead.log[-3000:]
    # Counted, never printed: the file holds the migrations user's password.
    found = topo.sh("app1", f"grep -c '@{topo.address('db2')}:3306/' /etc/peakready/migrate.env || true").strip()
    assert found == "1", "migrations go to the new primary"
    REPORT.append(f"deploy with the old primary down: {dead.seconds:.0f} s, every other host updated")


def test_the_old_primary_comes_back_as_a_replica_and_a_second_deploy_changes_nothing(topo):
    topo.restart("db1")
    assert topo.sh("db1", "mariadb -N -B -e 'SELECT @@read_only'").strip() == "1", "never writable on its own"
    first = topo.run("deploy.py")
    assert first.returncode == 0, first.log[-3000:]
    status = slave_status(topo, "db1")
    assert (status["Master_Host"], status["Slave_IO_Running"], status["Slave_SQL_Running"]) == (
        topo.address("db2"), "Yes", "Yes"), status
    second = topo.run("deploy.py")
    assert second.returncode == 0 and second.changed == [], second.changed
    REPORT.append(f"after the failover: deploy (db1 re-seeded as a replica) {first.seconds:.0f} s, "
                  f"then 0 changes in {second.seconds:.0f} s")


def test_a_switchover_under_load_loses_nothing(topo):
    load = topo.traffic(seconds=load_seconds(SWITCH_WINDOW_BOUND_S), budget=20000, readers=2, writers=3)
    time.sleep(LEAD_S)
    start = MOMENTS["switchover"] = time.time()
    switched = topo.run("promote.py", "--data", "promote=db1")
    switch_s = time.time() - start
    result = topo.collect(load)
    log, acknowledged = result["log"], result["acknowledged"]
    assert switched.returncode == 0, switched.log[-3000:]
    lost = len(acknowledged) - on_db(topo, "db1", acknowledged)
    # While the old primary is read-only and ProxySQL has not yet seen the new one writable (its check
    # runs every 1.5 s), the app tries a refused booking again until its 5 s deadline: a booking can
    # only fail in that window, and none later than the bound after promote.py starts.
    failed, window = last_failure_within(log, "write", start, SWITCH_WINDOW_BOUND_S)
    REPORT.append(f"switchover db2 -> db1 under load: promote.py {switch_s:.1f} s; {failed} bookings failed"
                  + (f", the last {window.figure:.1f} s after its start" if failed else "")
                  + f"; {len(acknowledged)} acknowledged, {lost} lost")
    assert lost == 0
    assert window.ok, window.problem
    assert slave_status(topo, "db2")["Master_Host"] == topo.address("db1")
