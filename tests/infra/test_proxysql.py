"""ProxySQL live on the VPS, from the package targets/packages.py finds (PEAKREADY_PROXYSQL_DEB, the
one in a shared/packages/ folder beside the checkout, or the official repository). Where none is available for the VPS's
release these tests skip and say why; where one is, ProxySQL must be on and none of them may skip.
What can be checked without the binary is in tests/unit/test_proxysql_role.py.
"""

import json
import time
from contextlib import contextmanager

import pytest

from peakready import ROOT, SOCKETS
from peakready.roles.proxysql_state import READER, WRITER
from peakready.secrets import DIRECTORY
from targets import vps
from tests.infra.conftest import deploy, phase, proxysql_or_skip
from tests.infra.test_api import get_json

APP_CNF = "/root/.peakready-test-proxysql-app.cnf"
MONITOR_CNF = "/root/.peakready-test-proxysql-monitor.cnf"
ADMIN = "mariadb --defaults-file=/root/.peakready-proxysql-admin.cnf -N -B -e"
CLIENTS = 200
MULTIPLEXING = ROOT / ".peakready" / "proxysql-multiplexing.txt"


@pytest.fixture(scope="module", autouse=True)
def proxysql_on(plan):
    proxysql_or_skip(plan)


@contextmanager
def client_cnf(test_vps, path: str, user: str, secret: str, port: int):
    """A 0600 client config for `user` in the VPS, its password through stdin, removed afterwards."""
    password = json.loads((DIRECTORY / "docker.json").read_text())[secret]
    vps.sh(test_vps.name, f"umask 077; cat > {path}",
           stdin=f"[client]\nhost=127.0.0.1\nport={port}\nuser={user}\npassword={password}\n")
    try:
        yield path
    finally:
        vps.sh(test_vps.name, f"rm -f {path}")


@pytest.fixture(scope="module")
def app_cnf(test_vps, knobs):
    with client_cnf(test_vps, APP_CNF, knobs["mariadb_app_user"], "mariadb_app_password", 6033) as path:
        yield path


@pytest.fixture(scope="module")
def monitor_cnf(test_vps, knobs):
    with client_cnf(test_vps, MONITOR_CNF, knobs["mariadb_monitor_user"], "mariadb_monitor_password", 3306) as path:
        yield path


def admin(host, query):
    return host.check_output(f"{ADMIN} {json.dumps(query)}")


def test_the_app_reads_and_writes_through_6033(host, app_cnf, knobs):
    db = knobs["app_db_name"]
    host.run_expect([0], f"mariadb {db} -e 'CREATE TABLE IF NOT EXISTS proxysql_probe "
                         "(id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10))'")
    write = host.run(f"mariadb --defaults-file={app_cnf} {db} -e \"INSERT INTO proxysql_probe (v) VALUES ('via6033')\"")
    assert write.rc == 0, write.stderr
    read = host.run(f"mariadb --defaults-file={app_cnf} -N {db} -e "
                    "\"SELECT COUNT(*) FROM proxysql_probe WHERE v = 'via6033'\"")
    assert read.rc == 0 and int(read.stdout) >= 1, read.stderr
    # The row is in MariaDB itself, not only in something ProxySQL answered.
    assert int(host.check_output(f"mariadb -N {db} -e \"SELECT COUNT(*) FROM proxysql_probe\"")) >= 1


def test_health_says_the_app_reaches_mariadb_through_proxysql(host, test_vps, knobs):
    status, _, health = get_json(test_vps, "/health")
    assert status == 200 and health["mariadb"] == "ok" and health["mariadb_via"] == "proxysql", health
    env = host.file(f"/etc/{knobs['app_name']}/app.env").content_string
    assert "@127.0.0.1:6033/" in env.split("DATABASE_URL=", 1)[1].split("\n", 1)[0]
    assert "proxysql" in host.check_output("ss -Hltnp 'sport = :6033'")


def test_on_one_host_the_app_and_mariadb_are_reached_through_unix_sockets(host, test_vps, knobs):
    """The app reaches ProxySQL, and ProxySQL reaches MariaDB, through Unix sockets (cheaper a
    statement than loopback TCP), and ProxySQL offers no TLS on the host. Had the app kept TCP, no
    connection would be established on ProxySQL's socket."""
    env = host.file(f"/etc/{knobs['app_name']}/app.env").content_string
    assert f"DATABASE_SOCKET='{SOCKETS['proxysql']}'" in env
    for _ in range(3):
        status, _, health = get_json(test_vps, "/health")
        assert status == 200 and health["mariadb"] == "ok", health
    through = host.check_output(f"ss -Hxp src {SOCKETS['proxysql']}")
    assert "proxysql" in through, through
    assert admin(host, "SELECT hostname, port FROM runtime_mysql_servers").split() == [SOCKETS["mariadb"], "0"]
    assert int(admin(host, "SELECT ConnOK FROM stats_mysql_connection_pool WHERE status = 'ONLINE'")) >= 1
    assert admin(host, "SELECT variable_value FROM runtime_global_variables "
                       "WHERE variable_name = 'mysql-have_ssl'") == "false"


@pytest.mark.box
def test_default_logins_are_refused_and_the_ports_are_private(host):
    for user in ("admin:admin", "stats:stats"):  # upstream's defaults
        name, password = user.split(":")
        res = host.run(f"mariadb -h 127.0.0.1 -P 6032 -u {name} -p{password} -e 'SELECT 1'")
        assert res.rc != 0 and "denied" in res.stderr.lower(), user
    assert host.socket("tcp://127.0.0.1:6032").is_listening
    assert not host.socket("tcp://0.0.0.0:6032").is_listening
    assert host.socket("tcp://127.0.0.1:6033").is_listening
    assert not host.socket("tcp://0.0.0.0:6033").is_listening


@pytest.mark.box
def test_runtime_tables_match_the_plan(host, plan, knobs):
    q = plan.proxysql
    servers = admin(host, "SELECT hostgroup_id, hostname, port, max_connections FROM runtime_mysql_servers")
    assert servers.split("\n") == [f"{WRITER}\t{SOCKETS['mariadb']}\t0\t{q.backend_max_connections}"]
    users = admin(host, "SELECT DISTINCT username, default_hostgroup, transaction_persistent FROM runtime_mysql_users "
                        "ORDER BY username").split("\n")
    assert users == sorted(f"{u}\t{WRITER}\t1" for u in (knobs["mariadb_app_user"], knobs["mariadb_migrate_user"]))
    rules = admin(host, "SELECT rule_id, match_digest, destination_hostgroup FROM runtime_mysql_query_rules")
    assert rules == "", "one host: every query goes to the writer, none is matched against a rule"
    assert str(READER) not in {line.split("\t")[0] for line in servers.split("\n")}, "no reader hostgroup alone"
    variables = dict(line.split("\t") for line in admin(
        host, "SELECT variable_name, variable_value FROM runtime_global_variables WHERE variable_name IN "
              "('mysql-threads', 'mysql-max_connections', 'mysql-free_connections_pct', 'mysql-server_version')"
    ).split("\n"))
    version = host.check_output("mariadb -N -B -e 'SELECT VERSION()'").split("-MariaDB")[0] + "-MariaDB"
    assert variables == {"mysql-threads": str(q.mysql_threads), "mysql-max_connections": str(q.max_connections),
                         "mysql-free_connections_pct": str(knobs["proxysql_free_connections_pct"]),
                         "mysql-server_version": version}
    status = admin(host, "SELECT status FROM stats_mysql_connection_pool WHERE hostgroup = 10")
    assert status.split() == ["ONLINE"]


def test_the_monitor_user_may_do_what_the_monitor_does_and_nothing_else(host, monitor_cnf, knobs):
    """ProxySQL's monitor connects, pings, reads @@global.read_only and, for replication lag, runs
    SHOW SLAVE STATUS (MariaDB 10.5.9+: SLAVE MONITOR)."""
    user = knobs["mariadb_monitor_user"]
    grants = host.check_output(f"mariadb -N -B -e \"SHOW GRANTS FOR '{user}'@'127.0.0.1'\"").split("\n")
    assert [g.split(" IDENTIFIED")[0] for g in grants] == [f"GRANT SLAVE MONITOR ON *.* TO `{user}`@`127.0.0.1`"]
    as_monitor = f"mariadb --defaults-file={monitor_cnf} -N -B -e"
    for allowed in ("SELECT @@global.read_only", "SHOW SLAVE STATUS", "SELECT 1"):
        res = host.run(f"{as_monitor} '{allowed}'")
        assert res.rc == 0, f"{allowed}: {res.stderr}"
    for denied in ("SHOW BINLOG EVENTS", f"SELECT * FROM {knobs['app_db_name']}.bookings LIMIT 1",
                   "SELECT user FROM mysql.user LIMIT 1"):
        res = host.run(f"{as_monitor} '{denied}'")
        assert res.rc != 0 and "denied" in res.stderr.lower(), f"{denied} was allowed"


def test_the_monitor_logs_no_error_since_mariadb_last_started(host):
    """Connect (every 60 s) and ping (every 10 s) checks after MariaDB became active (the suite
    restarts it before this), at least one of each, and none failing. What this proves is the
    monitor user's login and privileges, so the count starts at the first ping that succeeded
    after the restart: pings on a pooled monitor connection the restart cut fail with "Lost
    connection to server during query" until ProxySQL replaces it (seen in two fresh-clone runs).
    A check that timed out on the busy machine is counted apart, at most two."""
    since = host.check_output("date -d \"$(systemctl show -p ActiveEnterTimestamp --value mariadb)\" +%s")
    since_us = (int(since) + 2) * 1_000_000
    deadline = time.monotonic() + 90
    while True:
        recovered = int(admin(host, "SELECT IFNULL(MIN(time_start_us), 0) FROM monitor.mysql_server_ping_log "
                                    f"WHERE time_start_us > {since_us} AND ping_error IS NULL"))
        start = max(since_us, recovered - 1)
        logs = {t: admin(host, f"SELECT COUNT(*), IFNULL(SUM(IFNULL({t.split('_')[2]}_error, '') NOT IN ('') AND "
                                f"{t.split('_')[2]}_error NOT LIKE '%timeout%'), 0), IFNULL(SUM({t.split('_')[2]}_error "
                                f"LIKE '%timeout%'), 0) FROM monitor.{t} WHERE time_start_us > {start}").split("\t")
                for t in ("mysql_server_connect_log", "mysql_server_ping_log")}
        if (recovered and all(int(n) > 0 for n, _, _ in logs.values())) or time.monotonic() > deadline:
            break
        time.sleep(2)
    print(f"monitor checks since the first good ping after MariaDB started (count, errors, timeouts): {logs}")
    assert recovered, "no ping succeeded within 90 s of MariaDB's start"
    assert all(int(n) > int(timeouts) for n, _, timeouts in logs.values()), f"a check that succeeded: {logs}"
    assert sum(int(t) for _, _, t in logs.values()) <= 2, f"at most two timeouts: {logs}"
    assert all(int(errors) == 0 for _, errors, _ in logs.values()), admin(
        host, "SELECT * FROM monitor.mysql_server_ping_log WHERE ping_error IS NOT NULL ORDER BY time_start_us DESC "
              "LIMIT 5")
    read_only_errors = admin(host, "SELECT COUNT(*) FROM monitor.mysql_server_read_only_log WHERE error IS NOT NULL "
                                   f"AND time_start_us > {start}")
    assert read_only_errors == "0"


def test_200_clients_hold_no_more_backend_connections_than_planned(host, app_cnf, plan, knobs):
    """200 clients at once, each holding a 2 s query: ProxySQL admits as many as its frontend allows
    (the plan's: twice the app's pools plus headroom), refuses the rest with 1040, and queues the
    admitted ones onto at most the plan's backend connections."""
    allowed, frontend = plan.proxysql.backend_max_connections, plan.proxysql.max_connections
    errors = "/root/.peakready-test-proxysql-clients.err"
    host.run_expect([0], f"rm -f {errors}; for i in $(seq {CLIENTS}); do mariadb --defaults-file={app_cnf} "
                         f"-e 'SELECT SLEEP(2)' >/dev/null 2>>{errors} & done; echo started")
    peak_pool, peak_threads, peak_clients = 0, 0, 0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        used, clients = admin(host, "SELECT (SELECT SUM(ConnUsed + ConnFree) FROM stats_mysql_connection_pool), "
                                    "(SELECT Variable_Value FROM stats_mysql_global "
                                    "WHERE Variable_Name = 'Client_Connections_connected')").split("\t")
        threads = host.check_output("mariadb -N -B -e \"SHOW GLOBAL STATUS LIKE 'Threads_connected'\"").split()[1]
        peak_pool, peak_threads = max(peak_pool, int(used or 0)), max(peak_threads, int(threads))
        peak_clients = max(peak_clients, int(clients))
        # The clients by name: `pgrep -f 'SELECT SLEEP'` matched the shell running it, so the loop always
        # ran its whole 90 s.
        if host.run("pgrep -x mariadb >/dev/null").rc != 0:
            break
        time.sleep(0.5)
    refused = int(host.check_output(f"grep -c 'Too many connections' {errors} || true") or 0)
    other = host.check_output(f"grep -v 'Too many connections' {errors} || true; rm -f {errors}")
    line = (f"{CLIENTS} clients: {CLIENTS - refused} admitted (frontend max {frontend}), {refused} refused, "
            f"{peak_clients} connected at once at most (handshakes included); {peak_pool} backend connections at "
            f"most (plan: {allowed}): {(CLIENTS - refused) / max(peak_pool, 1):.1f} admitted clients per backend; "
            f"MariaDB Threads_connected at most {peak_threads}")
    print(line)
    MULTIPLEXING.parent.mkdir(exist_ok=True)
    MULTIPLEXING.write_text(line + "\n")  # printed at the end of the run (conftest.py)
    assert other == "", f"clients failed for another reason: {other[:300]}"
    # (The count includes clients in their handshake, refused ones too: it may pass the frontend max.)
    assert peak_clients >= min(CLIENTS, frontend) * 0.8, "the clients were not all there at once"
    assert refused <= CLIENTS - min(CLIENTS, frontend) * 0.8, "ProxySQL refused clients its frontend admits"
    assert 0 < peak_pool <= allowed
    # MariaDB sees ProxySQL's backends plus its monitor and this test's root session, never 200.
    assert peak_threads <= allowed + knobs["mariadb_reserved_connections"]


def test_a_restart_returns_only_when_proxysql_answers_and_keeps_its_configuration(host):
    """The first deploy once failed with ERROR 2002 on 6032 right after a restart: systemd called
    the forking service started before its listeners were open."""
    before = admin(host, "SELECT hostgroup_id, hostname, max_connections FROM runtime_mysql_servers")
    res = host.run(f"systemctl restart proxysql && {ADMIN} 'SELECT 1'")
    assert res.rc == 0, res.stderr
    assert admin(host, "SELECT hostgroup_id, hostname, max_connections FROM runtime_mysql_servers") == before


def test_a_changed_thread_count_is_restarted_into(host, test_vps, plan):
    """mysql-threads is taken only at start: the deploy puts it back on disk and restarts ProxySQL."""
    wanted = plan.proxysql.mysql_threads
    other = wanted + 2
    admin(host, f"UPDATE global_variables SET variable_value = '{other}' WHERE variable_name = 'mysql-threads'; "
                "SAVE MYSQL VARIABLES TO DISK")
    host.run_expect([0], "systemctl restart proxysql")
    workers = "SELECT Variable_Value FROM stats_mysql_global WHERE Variable_Name = 'MySQL_Thread_Workers'"
    assert admin(host, workers) == str(other)
    with phase("proxysql re-deploy"):
        fixed = deploy(test_vps.name)
    assert fixed.returncode == 0, fixed.log[-3000:]
    assert [op for op in fixed.changed if "ProxySQL runtime" in op], fixed.changed
    assert admin(host, workers) == str(wanted)
    assert admin(host, "SELECT variable_value FROM disk.global_variables WHERE variable_name = 'mysql-threads'") == \
        str(wanted)
