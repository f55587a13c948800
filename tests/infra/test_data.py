"""The data tier on the live VPS: MariaDB and Redis sized by the plan, secured, durable, backed up.

Credentials reach the VPS through stdin into 0600 files under /root, so no password is ever on a
command line, in testinfra's output or in a failure message.
"""

import json
import os
import subprocess
import time

import pytest

from peakready import ROOT, SOCKETS
from peakready.secrets import DIRECTORY
from targets.wrk import PAST_MICRO_CACHE
from tests.infra.conftest import PYINFRA
from tests.leaks import Redacted

MB = 1024 * 1024
APP_CNF = "/root/.peakready-test-app.cnf"
MIGRATE_CNF = "/root/.peakready-test-migrate.cnf"
REDIS_ADMIN = "/root/.peakready-test-redis-admin"
REDIS_APP = "/root/.peakready-test-redis-app"


@pytest.fixture(scope="module")
def secrets():
    return Redacted(json.loads((DIRECTORY / "docker.json").read_text()))  # a failure names, never shows, them


@pytest.fixture(scope="module")
def credentials(test_vps, secrets, knobs):
    files = {
        APP_CNF: f"[client]\nuser={knobs['mariadb_app_user']}\npassword={secrets['mariadb_app_password']}\n",
        MIGRATE_CNF: f"[client]\nuser={knobs['mariadb_migrate_user']}\npassword={secrets['mariadb_migrate_password']}\n",
        REDIS_ADMIN: secrets["redis_admin_password"],
        REDIS_APP: secrets["redis_app_password"],
    }
    for path, content in files.items():
        subprocess.run(["docker", "exec", "-i", test_vps.name, "sh", "-c", f"umask 077; cat > {path}"],
                       input=content, text=True, check=True)
    yield
    subprocess.run(["docker", "exec", test_vps.name, "rm", "-f", *files], check=True)


def sql(host, query, cnf=None, tcp=True, database=""):
    """Run `query` with the mariadb client; as root over the socket unless `cnf` names a user."""
    who = f"--defaults-extra-file={cnf} " if cnf else ""
    where = "-h 127.0.0.1 " if tcp and cnf else ""
    return host.run(f"mariadb {who}{where}-N -B -e {json.dumps(query)} {database}")


def redis(host, args, auth=None, user=None):
    """redis-cli with the password from a file in the VPS (REDISCLI_AUTH), never on the command line."""
    env = f'REDISCLI_AUTH="$(cat {auth})" ' if auth else ""
    login = f"--user {user} " if user else ""
    return host.run(f"{env}redis-cli --no-auth-warning {login}{args}")


def wait_active(host, service, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if host.run(f"systemctl is-active {service}").stdout.strip() == "active":
            return
        time.sleep(0.5)
    pytest.fail(f"{service} did not come back within {timeout} s")


# --- MariaDB ------------------------------------------------------------------------------------


@pytest.mark.box
def test_mariadb_runs_the_planned_configuration(host, plan, knobs):
    m = plan.mariadb
    variables = dict(line.split("\t") for line in sql(host, "SHOW GLOBAL VARIABLES").stdout.splitlines())
    assert int(variables["innodb_buffer_pool_size"]) == m.innodb_buffer_pool_mb * MB
    assert int(variables["max_connections"]) == m.max_connections
    assert int(variables["thread_cache_size"]) == m.thread_cache_size
    assert int(variables["table_open_cache"]) == m.table_open_cache
    assert int(variables["open_files_limit"]) >= m.open_files_limit
    assert variables["slow_query_log"] == "ON"
    assert float(variables["long_query_time"]) == knobs["mariadb_long_query_time_s"]
    assert int(variables["wait_timeout"]) == knobs["mariadb_wait_timeout_s"]
    assert variables["innodb_flush_log_at_trx_commit"] == "1" and variables["sync_binlog"] == "1"
    assert variables["log_bin"] == "ON" and variables["gtid_strict_mode"] == "ON"
    assert variables["server_id"] == "1" and variables["read_only"] == "OFF"
    assert variables["bind_address"] == "127.0.0.1" and variables["skip_name_resolve"] == "ON"
    assert variables["character_set_server"] == "utf8mb4"
    assert host.socket("tcp://127.0.0.1:3306").is_listening
    assert not host.socket("tcp://0.0.0.0:3306").is_listening


def test_the_app_user_reaches_its_database_and_nothing_else(host, credentials, knobs):
    db = knobs["app_db_name"]
    assert sql(host, "SELECT 1", APP_CNF, database=db).stdout.strip() == "1"
    assert set(sql(host, "SHOW DATABASES", APP_CNF).stdout.split()) == {"information_schema", db}
    for forbidden in ("CREATE DATABASE peakready_other", f"CREATE TABLE {db}.x (id INT)",
                      "SELECT COUNT(*) FROM mysql.user", "SELECT COUNT(*) FROM mysql.global_priv"):
        res = sql(host, forbidden, APP_CNF)
        assert res.rc != 0 and "denied" in res.stderr, forbidden
    # Also over the unix socket.
    assert sql(host, "SELECT 1", APP_CNF, tcp=False, database=db).stdout.strip() == "1"


def test_the_migrate_user_changes_the_schema_of_the_app_database_only(host, credentials, knobs):
    db = knobs["app_db_name"]
    assert sql(host, f"CREATE TABLE IF NOT EXISTS {db}.migrate_probe (id INT); DROP TABLE {db}.migrate_probe",
               MIGRATE_CNF).rc == 0
    res = sql(host, "CREATE DATABASE peakready_other", MIGRATE_CNF)
    assert res.rc != 0 and "denied" in res.stderr


@pytest.mark.box
def test_secured_like_mysql_secure_installation(host):
    assert sql(host, "SELECT COUNT(*) FROM mysql.global_priv WHERE User = ''").stdout.strip() == "0"
    assert sql(host, "SELECT Host FROM mysql.global_priv WHERE User = 'root'").stdout.split() == ["localhost"]
    assert "test" not in sql(host, "SHOW DATABASES").stdout.split()
    # root: only through the unix socket, and only as the OS user root.
    over_tcp = host.run("mariadb -h 127.0.0.1 -u root -e 'SELECT 1'")
    assert over_tcp.rc != 0 and "denied" in over_tcp.stderr
    as_nobody = host.run("setpriv --reuid=nobody --regid=nogroup --clear-groups mariadb -u root -e 'SELECT 1'")
    assert as_nobody.rc != 0 and "denied" in as_nobody.stderr


def test_committed_rows_survive_kill_9_of_mariadbd(host, knobs):
    db = knobs["app_db_name"]
    assert sql(host, f"CREATE TABLE IF NOT EXISTS {db}.durability (id INT AUTO_INCREMENT PRIMARY KEY, v INT)").rc == 0
    before = int(sql(host, f"SELECT COUNT(*) FROM {db}.durability").stdout)
    values = ",".join(f"({i})" for i in range(500))
    assert sql(host, f"INSERT INTO {db}.durability (v) VALUES {values}").rc == 0  # autocommit: acknowledged
    pid = host.check_output("systemctl show -p MainPID --value mariadb")
    host.run_expect([0], f"kill -9 {pid}")
    time.sleep(1)
    wait_active(host, "mariadb")
    assert host.check_output("systemctl show -p MainPID --value mariadb") != pid
    assert int(sql(host, f"SELECT COUNT(*) FROM {db}.durability").stdout) == before + 500


def test_a_backup_restores_into_a_scratch_database_with_the_same_rows(host, test_vps, knobs):
    db, scratch = knobs["app_db_name"], "peakready_restore_check"
    sql(host, f"CREATE TABLE IF NOT EXISTS {db}.menu (id INT PRIMARY KEY, name VARCHAR(40)); "
              f"REPLACE INTO {db}.menu VALUES (1, 'nasi goreng'), (2, 'es teh'), (3, 'sate ayam')")
    host.run_expect([0], "systemctl start peakready-mariadb-backup.service")
    dump = host.check_output(f"ls -1t {knobs['backup_dir']}/{db}-*.sql.gz | head -n 1")
    assert host.file(dump).mode == 0o600 and host.file(knobs["backup_dir"]).mode == 0o700
    assert host.service("peakready-mariadb-backup.timer").is_enabled

    res = subprocess.run([PYINFRA, "-y", "inventories/docker.py", "restore.py", "--data", f"restore_into={scratch}"],
                         cwd=ROOT, env={**os.environ, "PEAKREADY_VPS": test_vps.name},
                         capture_output=True, text=True, timeout=300)
    try:
        assert res.returncode == 0, res.stderr[-2000:]
        tables = sql(host, f"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}'").stdout.split()
        assert {"menu", "durability"} <= set(tables)
        for table in tables:
            assert sql(host, f"SELECT COUNT(*) FROM {db}.{table}").stdout == \
                sql(host, f"SELECT COUNT(*) FROM {scratch}.{table}").stdout, table
        assert sql(host, f"SELECT name FROM {scratch}.menu WHERE id = 3").stdout.strip() == "sate ayam"
        # A database with tables is not overwritten without restore_replace=true.
        again = subprocess.run([PYINFRA, "-y", "inventories/docker.py", "restore.py", "--data",
                                f"restore_into={scratch}"], cwd=ROOT,
                               env={**os.environ, "PEAKREADY_VPS": test_vps.name}, capture_output=True, text=True,
                               timeout=300)
        assert again.returncode != 0 and "add --replace" in again.stderr
    finally:
        sql(host, f"DROP DATABASE IF EXISTS {scratch}")


# --- Redis --------------------------------------------------------------------------------------


def config_get(host, key):
    out = redis(host, f"CONFIG GET {key}", auth=REDIS_ADMIN).stdout.split("\n")
    return out[1] if len(out) > 1 else None


def test_redis_runs_the_planned_configuration(host, credentials, plan, knobs):
    assert config_get(host, "maxmemory") == str(plan.redis.maxmemory_mb * MB)
    assert config_get(host, "maxmemory-policy") == knobs["redis_maxmemory_policy"] == "allkeys-lru"
    assert config_get(host, "appendonly") == "yes"
    assert config_get(host, "appendfsync") == "everysec"
    assert config_get(host, "aof-use-rdb-preamble") == "yes"
    assert config_get(host, "maxclients") == str(knobs["redis_maxclients"])
    assert config_get(host, "tcp-backlog") == str(plan.redis.tcp_backlog)
    assert config_get(host, "protected-mode") == "yes"
    assert config_get(host, "bind").startswith("127.0.0.1")
    assert not host.socket("tcp://0.0.0.0:6379").is_listening


def test_redis_refuses_clients_without_the_right_credentials(host, credentials, knobs):
    assert "NOAUTH" in redis(host, "SET k v").stdout + redis(host, "SET k v").stderr
    wrong = host.run("REDISCLI_AUTH=not-the-password redis-cli --no-auth-warning --user default PING")
    assert "WRONGPASS" in wrong.stdout + wrong.stderr
    assert redis(host, "PING", auth=REDIS_APP, user=knobs["redis_app_user"]).stdout.strip() == "PONG"
    assert "redis.conf" in host.check_output("ls /etc/redis")
    assert host.file("/etc/redis/redis.conf").mode == 0o640


def test_the_app_on_this_host_reaches_redis_through_its_socket_with_a_login(host, credentials, knobs):
    """The app beside Redis uses its Unix socket (cheaper a command than loopback TCP); the socket
    asks for the same ACL login as TCP. Had the app kept TCP, no connection would be on the socket."""
    sock = SOCKETS["redis"]
    env = host.file(f"/etc/{knobs['app_name']}/app.env").content_string
    assert f"REDIS_SOCKET='{sock}'" in env
    refused = redis(host, f"-s {sock} SET k v")
    assert "NOAUTH" in refused.stdout + refused.stderr
    assert redis(host, f"-s {sock} PING", auth=REDIS_APP, user=knobs["redis_app_user"]).stdout.strip() == "PONG"
    for _ in range(3):
        host.check_output(f"curl -s -o /dev/null -H 'Host: localhost' -H '{': '.join(PAST_MICRO_CACHE)}' "
                          "http://127.0.0.1/api/v1/menu?outlet=1")
    assert "redis-server" in host.check_output(f"ss -Hxp src {sock}")


@pytest.mark.parametrize("command", ["FLUSHALL", "FLUSHDB", "CONFIG GET maxmemory", "DEBUG SLEEP 0", "KEYS 'menu:*'",
                                     "SHUTDOWN NOSAVE", "ACL LIST"])
def test_the_app_user_cannot_run_admin_commands(host, credentials, knobs, command):
    res = redis(host, command, auth=REDIS_APP, user=knobs["redis_app_user"])
    # DEBUG is off for everyone (enable-debug-command no), before the ACL is even asked.
    refused = "NOPERM" if not command.startswith("DEBUG") else "DEBUG command not allowed"
    assert refused in res.stdout + res.stderr, command
    # And the ACL itself says no, whatever the server-wide switches are.
    dry = redis(host, f"ACL DRYRUN {knobs['redis_app_user']} {command}", auth=REDIS_ADMIN).stdout
    assert "no permissions" in dry, dry


def test_keys_survive_a_restart_and_kill_9(host, credentials, knobs):
    app = dict(auth=REDIS_APP, user=knobs["redis_app_user"])
    assert redis(host, "SET durable:restart yes", **app).stdout.strip() == "OK"
    host.run_expect([0], "systemctl restart redis-server")
    wait_active(host, "redis-server")
    assert redis(host, "GET durable:restart", **app).stdout.strip() == "yes"

    assert redis(host, "SET durable:kill yes", **app).stdout.strip() == "OK"
    time.sleep(1.5)  # appendfsync everysec: what was written a second ago is on disk
    pid = host.check_output("systemctl show -p MainPID --value redis-server")
    host.run_expect([0], f"kill -9 {pid}")
    time.sleep(0.5)
    wait_active(host, "redis-server")
    assert host.check_output("systemctl show -p MainPID --value redis-server") != pid
    assert redis(host, "GET durable:kill", **app).stdout.strip() == "yes"
    assert redis(host, "GET durable:restart", **app).stdout.strip() == "yes"


def test_a_full_cache_evicts_instead_of_failing_writes(host, credentials, knobs, plan):
    """maxmemory lowered for the test (CONFIG SET, runtime only), then filled four times over."""
    planned = plan.redis.maxmemory_mb * MB
    assert redis(host, "CONFIG SET maxmemory 8mb", auth=REDIS_ADMIN).stdout.strip() == "OK"
    try:
        fill = ("python3 -c \"import sys; [sys.stdout.write('SET evict:%d %s\\r\\n' % (i, 'x' * 4096)) "
                "for i in range(8000)]\" | "
                f'REDISCLI_AUTH="$(cat {REDIS_APP})" redis-cli --no-auth-warning --user {knobs["redis_app_user"]} --pipe')
        out = host.run(fill)
        assert "errors: 0, replies: 8000" in out.stdout, out.stdout + out.stderr
        stats = redis(host, "INFO stats", auth=REDIS_ADMIN).stdout
        evicted = int(next(line.split(":")[1] for line in stats.splitlines() if line.startswith("evicted_keys:")))
        assert evicted > 0
    finally:
        redis(host, f"CONFIG SET maxmemory {planned}", auth=REDIS_ADMIN)
    assert config_get(host, "maxmemory") == str(planned)
