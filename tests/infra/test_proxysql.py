"""ProxySQL live on the VPS: needs the package (PEAKREADY_PROXYSQL_DEB=/path/to/proxysql_2.x.deb),
which no registry this machine reaches has (../shared/DESIGN.md). Without it these tests are
skipped and say why; what can be checked without the binary is in tests/unit/test_proxysql_role.py.
"""

import json
import os
import subprocess
import time

import pytest

from peakready.roles.proxysql import READER, WRITER
from peakready.secrets import DIRECTORY

if not os.environ.get("PEAKREADY_PROXYSQL_DEB"):
    pytest.skip("PEAKREADY_PROXYSQL_DEB is not set: no ProxySQL package to install (none is in a registry "
                "this machine reaches), so the live ProxySQL tests do not run", allow_module_level=True)

APP_CNF = "/root/.peakready-test-proxysql-app.cnf"
ADMIN = "mariadb --defaults-file=/root/.peakready-proxysql-admin.cnf -N -B -e"


@pytest.fixture(scope="module")
def app_cnf(test_vps, knobs):
    secrets = json.loads((DIRECTORY / "docker.json").read_text())
    content = (f"[client]\nhost=127.0.0.1\nport=6033\nuser={knobs['mariadb_app_user']}\n"
               f"password={secrets['mariadb_app_password']}\n")
    subprocess.run(["docker", "exec", "-i", test_vps.name, "sh", "-c", f"umask 077; cat > {APP_CNF}"],
                   input=content, text=True, check=True)
    yield APP_CNF
    subprocess.run(["docker", "exec", test_vps.name, "rm", "-f", APP_CNF], check=True)


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


def test_admin_admin_is_refused_and_the_admin_port_is_private(host):
    res = host.run("mariadb -h 127.0.0.1 -P 6032 -u admin -padmin -e 'SELECT 1'")
    assert res.rc != 0 and "denied" in res.stderr.lower()
    assert host.socket("tcp://127.0.0.1:6032").is_listening
    assert not host.socket("tcp://0.0.0.0:6032").is_listening
    assert host.socket("tcp://127.0.0.1:6033").is_listening
    assert not host.socket("tcp://0.0.0.0:6033").is_listening


def test_runtime_tables_match_the_plan(host, plan, knobs):
    q = plan.proxysql_cfg
    servers = admin(host, "SELECT hostgroup_id, hostname, port, max_connections FROM runtime_mysql_servers")
    assert servers.split("\n") == [f"{WRITER}\t127.0.0.1\t3306\t{q['backend_max_connections']}"]
    users = admin(host, "SELECT DISTINCT username, default_hostgroup, transaction_persistent FROM runtime_mysql_users "
                        "ORDER BY username").split("\n")
    assert users == sorted(f"{u}\t{WRITER}\t1" for u in (knobs["mariadb_app_user"], knobs["mariadb_migrate_user"]))
    rules = admin(host, "SELECT rule_id, match_digest, destination_hostgroup FROM runtime_mysql_query_rules")
    assert rules.split("\n") == [f"1\t^SELECT .* FOR UPDATE\t{WRITER}"]
    assert str(READER) not in servers
    variables = dict(line.split("\t") for line in admin(
        host, "SELECT variable_name, variable_value FROM runtime_global_variables WHERE variable_name IN "
              "('mysql-threads', 'mysql-max_connections', 'mysql-free_connections_pct')").split("\n"))
    assert variables == {"mysql-threads": str(q["mysql_threads"]), "mysql-max_connections": str(q["max_connections"]),
                         "mysql-free_connections_pct": str(q["free_connections_pct"])}
    status = admin(host, "SELECT status FROM stats_mysql_connection_pool WHERE hostgroup = 10")
    assert status.split() == ["ONLINE"]


def test_200_clients_hold_no_more_backend_connections_than_planned(host, app_cnf, plan):
    """200 concurrent clients, each holding a 2 s query: ProxySQL queues them onto its backends."""
    allowed = plan.proxysql_cfg["backend_max_connections"]
    host.run_expect([0], f"for i in $(seq 200); do mariadb --defaults-file={app_cnf} -e 'SELECT SLEEP(2)' "
                         ">/dev/null 2>&1 & done; echo started")
    peak_pool, peak_threads = 0, 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        used = admin(host, "SELECT SUM(ConnUsed + ConnFree) FROM stats_mysql_connection_pool")
        threads = host.check_output("mariadb -N -B -e \"SHOW GLOBAL STATUS LIKE 'Threads_connected'\"").split()[1]
        peak_pool, peak_threads = max(peak_pool, int(used or 0)), max(peak_threads, int(threads))
        if host.run("pgrep -f 'SELECT SLEEP' >/dev/null").rc != 0:
            break
        time.sleep(0.5)
    assert 0 < peak_pool <= allowed
    # MariaDB sees ProxySQL's backends plus its monitor and this test's root session, never 200.
    assert peak_threads <= allowed + plan.mariadb["reserved_connections"]


def test_restart_keeps_the_configuration(host, plan):
    before = admin(host, "SELECT hostgroup_id, hostname, max_connections FROM runtime_mysql_servers")
    host.run_expect([0], "systemctl restart proxysql")
    for _ in range(60):
        if host.run(f"{ADMIN} 'SELECT 1'").rc == 0:
            break
        time.sleep(0.5)
    assert admin(host, "SELECT hostgroup_id, hostname, max_connections FROM runtime_mysql_servers") == before
