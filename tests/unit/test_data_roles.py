"""The data tier's decisions without a host: account drift, the SQL, the rendered configs."""

import hashlib
import re
from types import SimpleNamespace

import pytest

from peakready import SOCKETS, knobs
from peakready.hashes import acl_hash, native_hash
from peakready.plan import HostFacts, make_plan
from peakready.render import render
from peakready.roles.mariadb import (
    APP_PRIVILEGES,
    LOCAL,
    MIGRATE_PRIVILEGES,
    MONITOR_GLOBAL,
    Account,
    accounts_drift,
    accounts_sql,
    desired_accounts,
    stale_accounts,
)
from peakready.roles.redis import EXPORTER_COMMANDS

PLAN = make_plan([HostFacts("vps", 2, 4096)], {})["vps"]
DB = "peakready"
ACCOUNTS = {
    "app": Account("app-password-0123456789", frozenset({"USAGE"}), {DB: APP_PRIVILEGES}, LOCAL),
    "app_migrate": Account("migrate-password-0123456789", frozenset({"USAGE"}), {DB: MIGRATE_PRIVILEGES}, LOCAL),
    "monitor": Account("monitor-password-0123456789", frozenset(MONITOR_GLOBAL), {}, LOCAL),
}


def test_native_hash_matches_mariadb_password_function():
    # SELECT PASSWORD('password') on MariaDB.
    assert native_hash("password") == "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"


def as_found(accounts=ACCOUNTS):
    """What MariadbAccounts reads from a server in exactly the desired state."""
    users = {"root@localhost": {"plugin": "mysql_native_password", "auth_sha256": "x"}}
    global_privs, schema = {}, {}
    for user, account in accounts.items():
        for where in account.hosts:
            users[f"{user}@{where}"] = {"plugin": "mysql_native_password",
                                        "auth_sha256": hashlib.sha256(native_hash(account.password).encode()).hexdigest()}
            global_privs[f"'{user}'@'{where}'"] = set(account.global_privs)
            for name, privs in account.schemas.items():
                schema[(f"'{user}'@'{where}'", name)] = set(privs)
    return {"users": users, "global": global_privs, "schema": schema,
            "databases": {DB, "mysql", "information_schema", "performance_schema", "sys"}}


def test_the_desired_state_has_no_drift():
    assert accounts_drift(as_found(), ACCOUNTS, DB) == []


def drifted(change):
    found = as_found()
    change(found)
    return accounts_drift(found, ACCOUNTS, DB)


@pytest.mark.parametrize("change,expected", [
    (lambda f: f["users"].update({"@localhost": {"plugin": "", "auth_sha256": ""}}), "anonymous users"),
    (lambda f: f["users"].update({"root@%": {"plugin": "", "auth_sha256": ""}}), "root reachable"),
    (lambda f: f["databases"].add("test"), "a test database"),
    (lambda f: f["databases"].discard(DB), "no database peakready"),
    (lambda f: f["users"].pop("app@127.0.0.1"), "app@127.0.0.1: missing"),
    (lambda f: f["users"]["monitor@::1"].update(auth_sha256="0" * 64), "monitor@::1: missing or another password"),
    (lambda f: f["global"]["'app'@'localhost'"].add("SUPER"), "app@localhost: global privileges"),
    (lambda f: f["schema"][("'app'@'localhost'", DB)].add("DROP"), f"app@localhost: privileges on {DB}"),
    (lambda f: f["schema"].update({("'app'@'localhost'", "mysql"): {"SELECT"}}), "privileges on mysql"),
], ids=["anonymous", "remote root", "test db", "no app db", "missing user", "password", "global", "schema",
        "elsewhere"])
def test_each_drift_is_seen(change, expected):
    assert any(expected in d for d in drifted(change)), drifted(change)


def test_drift_never_names_a_password():
    found = as_found()
    found["users"].clear()
    text = " ".join(accounts_drift(found, ACCOUNTS, DB))
    assert not any(account.password in text for account in ACCOUNTS.values())


def test_the_sql_grants_least_privilege_and_cleans_up():
    text = accounts_sql(ACCOUNTS, DB)
    assert "DELETE FROM mysql.global_priv WHERE User = ''" in text and "DROP DATABASE IF EXISTS test;" in text
    assert "GRANT DELETE, INSERT, SELECT, UPDATE ON `peakready`.* TO 'app'@'localhost';" in text
    assert "GRANT SLAVE MONITOR ON *.* TO 'monitor'@'127.0.0.1';" in text
    assert not re.search(r"GRANT [^;]* ON \*\.\* TO 'app'", text), "the app has no global privilege"
    assert text.count("REVOKE ALL PRIVILEGES") == 3 * len(LOCAL)


def test_the_sql_holds_password_hashes_never_passwords():
    """MariaDB binlogs these statements verbatim: a clear password there is readable by BINLOG MONITOR."""
    text = accounts_sql(ACCOUNTS, DB)
    for user, account in ACCOUNTS.items():
        assert account.password not in text
        assert f"ALTER USER '{user}'@'127.0.0.1' IDENTIFIED BY PASSWORD '{native_hash(account.password)}';" in text


def test_mariadb_config_takes_every_size_from_the_plan():
    m = PLAN.mariadb
    text = render("mariadb/60-peakready.cnf.j2", mariadb=m, bind_address="127.0.0.1", wait_timeout_s=600,
                  max_allowed_packet_mb=64, long_query_time_s=1.0, binlog_expire_s=604800,
                  mariadb_reserved_connections=knobs.defaults()["mariadb_reserved_connections"], replicated=False,
                  semi_sync_timeout_ms=5000)
    settings = dict(re.findall(r"^(\w+)\s*=\s*(\S+)", text, re.M))
    assert settings["innodb_buffer_pool_size"] == f"{m.innodb_buffer_pool_mb}M"
    assert settings["max_connections"] == str(m.max_connections)
    assert settings["innodb_flush_log_at_trx_commit"] == "1" and settings["sync_binlog"] == "1"
    assert "read_only" not in settings and "rpl_semi_sync_master_enabled" not in settings


def test_a_replicated_db_host_starts_read_only_with_semi_sync_after_sync():
    """Every db host of a replicated topology, the primary too: one that restarts never takes writes
    on its own (the deploy or promote.py lifts read_only on the primary)."""
    text = render("mariadb/60-peakready.cnf.j2", mariadb=PLAN.mariadb, bind_address="127.0.0.1,10.0.0.3",
                  wait_timeout_s=600, max_allowed_packet_mb=64, long_query_time_s=1.0, binlog_expire_s=604800,
                  mariadb_reserved_connections=10, replicated=True, semi_sync_timeout_ms=5000)
    settings = dict(re.findall(r"^(\w+)\s*=\s*(\S+)", text, re.M))
    assert settings["read_only"] == "ON" and settings["rpl_semi_sync_master_wait_point"] == "AFTER_SYNC"
    assert settings["rpl_semi_sync_master_enabled"] == settings["rpl_semi_sync_slave_enabled"] == "ON"
    assert settings["rpl_semi_sync_master_timeout"] == "5000" and settings["gtid_strict_mode"] == "ON"


class FakeSecrets:
    def get(self, name):
        return f"{name}-0123456789abcdef"


def test_peers_get_accounts_at_their_private_addresses_only():
    data = SimpleNamespace(**knobs.defaults())
    accounts = desired_accounts(data, FakeSecrets(), app_hosts=["10.0.0.4", "10.0.0.5"], db_hosts=["10.0.0.7"])
    assert accounts["app"].hosts == LOCAL + ("10.0.0.4", "10.0.0.5")
    assert accounts["monitor"].hosts == LOCAL + ("10.0.0.4", "10.0.0.5")
    replication = accounts["peakready_replication"]
    assert replication.hosts == ("10.0.0.7",) and "REPLICATION SLAVE" in replication.global_privs
    assert "SUPER" not in replication.global_privs and set(replication.schemas) == {DB, "mysql"}
    text = accounts_sql(accounts, DB)
    assert "GRANT BINLOG MONITOR, RELOAD, REPLICATION SLAVE ON *.* TO 'peakready_replication'@'10.0.0.7';" in text
    assert "'peakready_replication'@'localhost'" not in text and "'peakready_replication'@'%'" not in text
    assert accounts_drift(as_found(accounts), accounts, DB) == []


def test_an_app_host_that_left_the_inventory_loses_its_accounts():
    data = SimpleNamespace(**knobs.defaults())
    before = desired_accounts(data, FakeSecrets(), app_hosts=["10.0.0.4", "10.0.0.5"])
    after = desired_accounts(data, FakeSecrets(), app_hosts=["10.0.0.4"])
    found = as_found(before)
    assert "app@10.0.0.5" in stale_accounts(found, after)
    assert any("app@10.0.0.5: not a peer" in d for d in accounts_drift(found, after, DB))
    assert "DROP USER IF EXISTS 'app'@'10.0.0.5';" in accounts_sql(after, DB, stale_accounts(found, after))


def test_redis_config_stores_no_password_and_denies_admin_commands_to_the_app():
    d = knobs.defaults()
    text = render("redis/redis.conf.j2", redis=PLAN.redis, bind="127.0.0.1 -::1", policy=d["redis_maxmemory_policy"],
                  samples=5, redis_maxclients=d["redis_maxclients"], aof_rewrite_percentage=100, aof_rewrite_min_mb=64, app_user="app",
                  admin_hash=acl_hash("admin-secret-0123456789"), app_hash=acl_hash("app-secret-0123456789"),
                  exporter_user="exporter", exporter_hash=acl_hash("exporter-secret-0123456789"),
                  exporter_commands=EXPORTER_COMMANDS, socket=SOCKETS["redis"])
    assert "secret" not in text
    assert f"unixsocket {SOCKETS['redis']}\n" in text and "bind 127.0.0.1 -::1\n" in text
    assert f"maxmemory {PLAN.redis.maxmemory_mb}mb" in text and "maxmemory-policy allkeys-lru" in text
    app_line = next(line for line in text.splitlines() if line.startswith("user app "))
    for denied in ("-@dangerous", "-flushall", "-flushdb", "-config", "-debug", "-keys"):
        assert denied in app_line.split()
    assert "appendonly yes" in text and "appendfsync everysec" in text
    # The exporter's user: no key, no channel, no command but the ones it reads with.
    exporter = next(line for line in text.splitlines() if line.startswith("user exporter ")).split()
    assert exporter[4:7] == ["resetkeys", "resetchannels", "-@all"]
    assert all(word.startswith("+") and word[1:].split("|")[0] in {"ping", "info", "client", "slowlog", "latency"}
               for word in exporter[7:])
    assert "+client|setname" in exporter and "+client" not in exporter


def test_the_replication_user_goes_when_the_replicas_do():
    data = SimpleNamespace(**knobs.defaults())
    before = desired_accounts(data, FakeSecrets(), db_hosts=["10.0.0.5", "10.0.0.6"])
    alone = desired_accounts(data, FakeSecrets())
    assert alone["peakready_replication"].hosts == ()
    found = as_found(before)
    assert stale_accounts(found, alone) == ["peakready_replication@10.0.0.5", "peakready_replication@10.0.0.6"]
    assert "CREATE USER IF NOT EXISTS 'peakready_replication'" not in accounts_sql(alone, DB)
    assert accounts_drift(as_found(alone), alone, DB) == []
