"""Role `mariadb`, on db_primary and db_replicas: MariaDB sized by the plan, secured as
mysql_secure_installation would, the app's database and least-privilege users, daily backups."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from io import StringIO

from pyinfra import host, state
from pyinfra.api import FileUploadCommand, StringCommand, deploy, operation
from pyinfra.operations import apt, files, systemd
from pyinfra.operations.util import any_changed

from peakready import topology
from peakready.facts import MariadbAccounts, MariadbReplication
from peakready.hashes import native_hash, sha256
from peakready.ops import config_file, hardening, open_files_limit, restart_or_roll_back
from peakready.plan import HostPlan, part
from peakready.roles.backup import backup_source, puller
from peakready.secrets import Secrets

CNF = "/etc/mysql/mariadb.conf.d/60-peakready.cnf"
LOG_DIR = "/var/log/mysql"
# All MariaDB writes under its sandbox: data (and binary logs), logs, the socket's directory.
WRITABLE = ["/var/lib/mysql", LOG_DIR, "/run/mysqld"]
# mariadbd reads the new file after all the others and reports any unknown or bad value.
CHECK = ("out=$(mariadbd --defaults-extra-file={path} --help --verbose 2>&1); "
         "if [ $? -ne 0 ] || printf '%s' \"$out\" | grep -q '\\[ERROR\\]'; then "
         "printf '%s\\n' \"$out\" | grep '\\[ERROR\\]' >&2; exit 1; fi")
# Where the app's users may connect from: the unix socket ("localhost" under skip-name-resolve)
# and loopback TCP (the app, or ProxySQL beside it).
LOCAL = ("localhost", "127.0.0.1", "::1")
APP_PRIVILEGES = {"SELECT", "INSERT", "UPDATE", "DELETE"}
# Migrations change the schema of the app's database, and nothing else.
MIGRATE_PRIVILEGES = APP_PRIVILEGES | {
    "CREATE", "DROP", "ALTER", "INDEX", "REFERENCES", "CREATE VIEW", "SHOW VIEW", "TRIGGER",
    "CREATE TEMPORARY TABLES", "LOCK TABLES",
}
# What ProxySQL's monitor runs: connect, ping, SELECT @@global.read_only (no privilege needed) and,
# for replication lag, SHOW SLAVE STATUS, which since MariaDB 10.5.9 needs SLAVE MONITOR (REPLICATION
# CLIENT became BINLOG MONITOR in 10.5 and no longer allows it; it would let the monitor read the
# binary log's data with SHOW BINLOG EVENTS instead). Nothing else.
MONITOR_GLOBAL = {"SLAVE MONITOR"}
EXPORTER_GLOBAL = {"SLAVE MONITOR"}


# The replication user replicates (REPLICATION SLAVE) and reads the consistent dump a new replica
# starts from: the app's database (with its routines, triggers and events) and the accounts
# (SELECT on mysql.*, mariadb-dump --system=users), at a GTID position it takes under a brief global
# read lock (RELOAD, BINLOG MONITOR). It reads nothing a replica does not get from the binary log anyway.
REPLICATION_GLOBAL = {"REPLICATION SLAVE", "RELOAD", "BINLOG MONITOR"}
DUMP_PRIVILEGES = {"SELECT", "SHOW VIEW", "TRIGGER", "EVENT", "LOCK TABLES"}
# The backup host copies the binary logs as a replication client, and lists them; nothing else.
BINLOG_GLOBAL = {"REPLICATION SLAVE", "BINLOG MONITOR"}


@dataclass(frozen=True)
class Account:
    password: str
    global_privs: frozenset[str]
    schemas: dict  # schema -> its privileges
    hosts: tuple[str, ...]  # where it may connect from


def desired_accounts(data, secrets: Secrets, app_hosts: Sequence[str] = (), db_hosts: Sequence[str] = (),
                     backup_hosts: Sequence[str] = ()) -> dict:
    """user -> Account. The app's users and the monitor connect from this host (LOCAL) and from the
    app hosts' private addresses; the replication user from the db hosts' only (any of them may
    replicate from any other once promote.py has swapped them)."""
    db, here = data.app_db_name, LOCAL + tuple(app_hosts)
    accounts = {
        data.mariadb_app_user: Account(secrets.get("mariadb_app_password"), frozenset({"USAGE"}),
                                       {db: APP_PRIVILEGES}, here),
        data.mariadb_migrate_user: Account(secrets.get("mariadb_migrate_password"), frozenset({"USAGE"}),
                                           {db: MIGRATE_PRIVILEGES}, here),
        data.mariadb_monitor_user: Account(secrets.get("mariadb_monitor_password"), frozenset(MONITOR_GLOBAL),
                                           {}, here),
    }
    if data.monitoring:
        # The mysqld exporter, on this host's socket: SHOW GLOBAL STATUS and VARIABLES need no
        # privilege, SHOW SLAVE STATUS needs SLAVE MONITOR; its collectors that read
        # information_schema's InnoDB tables (PROCESS) are off (peakready/roles/monitoring.py).
        accounts[data.mariadb_exporter_user] = Account(secrets.get("mariadb_exporter_password"),
                                                       frozenset(EXPORTER_GLOBAL), {}, ("localhost",))
    # Always there, at no address when there are no replicas: one left from a topology that had some goes.
    accounts[data.mariadb_replication_user] = Account(
        secrets.get("mariadb_replication_password"), frozenset(REPLICATION_GLOBAL),
        {db: DUMP_PRIVILEGES, "mysql": {"SELECT"}}, tuple(db_hosts))
    # Likewise the backup host's binary log reader: at its address, or at none without one.
    accounts[data.backup_binlog_user] = Account(
        secrets.get("mariadb_binlog_password"), frozenset(BINLOG_GLOBAL), {}, tuple(backup_hosts))
    return accounts


def accounts_drift(current: dict | None, accounts: dict, db: str) -> list[str]:
    """What differs from the desired accounts (empty: nothing to do). Never names a password."""
    if current is None:
        return ["MariaDB has no accounts yet"]
    drift = []
    users = current["users"]
    if any(u.startswith("@") for u in users):
        drift.append("anonymous users")
    if any(u.startswith("root@") and u != "root@localhost" for u in users):
        drift.append("root reachable from another host")
    if "test" in current["databases"]:
        drift.append("a test database")
    if db not in current["databases"]:
        drift.append(f"no database {db}")
    ours = set()
    for user, account in accounts.items():
        wanted_sha = sha256(native_hash(account.password))
        for where in account.hosts:
            grantee = f"'{user}'@'{where}'"
            ours.add(grantee)
            found = users.get(f"{user}@{where}")
            if not found or found["plugin"] != "mysql_native_password" or found["auth_sha256"] != wanted_sha:
                drift.append(f"{user}@{where}: missing or another password")
            if current["global"].get(grantee, set()) != account.global_privs:
                drift.append(f"{user}@{where}: global privileges")
            for schema, privs in account.schemas.items():
                if current["schema"].get((grantee, schema), set()) != privs:
                    drift.append(f"{user}@{where}: privileges on {schema}")
    drift += [f"{u}: not a peer any more" for u in stale_accounts(current, accounts)]
    for grantee, schema in current["schema"]:
        user = grantee.split("'")[1]
        if grantee in ours and schema not in accounts[user].schemas:
            drift.append(f"{grantee}: privileges on {schema}")
    return drift


def stale_accounts(current: dict | None, accounts: dict) -> list[str]:
    """Our users at an address that is no longer a peer's (a host left the inventory): "user@host"."""
    found = [u.split("@", 1) for u in (current or {}).get("users", {})]
    return sorted(f"{user}@{where}" for user, where in found if user in accounts and where not in accounts[user].hosts)


def accounts_sql(accounts: dict, db: str, stale: Sequence[str] = ()) -> str:
    """Idempotent SQL for the whole desired state. Passwords go in as their stored hash (IDENTIFIED BY
    PASSWORD), never in clear: MariaDB writes these statements to its binary log as they are, where
    replicas, mariadb-binlog and any user with BINLOG MONITOR (SHOW BINLOG EVENTS) would read them."""
    lines = [
        # mysql_secure_installation's steps: no anonymous users, no remote root, no test database.
        "DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');",
        "DROP DATABASE IF EXISTS test;",
        "DELETE FROM mysql.db WHERE Db = 'test' OR Db = 'test\\\\_%';",
        "FLUSH PRIVILEGES;",
        f"CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;",
    ]
    lines += [f"DROP USER IF EXISTS '{u.split('@', 1)[0]}'@'{u.split('@', 1)[1]}';" for u in stale]
    for user, account in accounts.items():
        for where in account.hosts:
            grantee = f"'{user}'@'{where}'"
            lines += [
                f"CREATE USER IF NOT EXISTS {grantee};",
                f"ALTER USER {grantee} IDENTIFIED BY PASSWORD '{native_hash(account.password)}';",
                f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {grantee};",
            ]
            if account.global_privs - {"USAGE"}:
                lines.append(f"GRANT {', '.join(sorted(account.global_privs))} ON *.* TO {grantee};")
            for schema, privs in sorted(account.schemas.items()):
                lines.append(f"GRANT {', '.join(sorted(privs))} ON `{schema}`.* TO {grantee};")
    return "\n".join(lines + ["FLUSH PRIVILEGES;", ""])


@operation()
def accounts(data, secrets: Secrets, app_hosts: Sequence[str] = (), db_hosts: Sequence[str] = (),
             backup_hosts: Sequence[str] = ()):
    """
    The app's database and users, and mysql_secure_installation's clean-up, as root over the unix
    socket. Runs only when MariadbAccounts shows a difference; the SQL (with the passwords' hashes) is
    uploaded 0600, run and removed: it is in no command line and in no output.
    """
    wanted = desired_accounts(data, secrets, app_hosts, db_hosts, backup_hosts)
    current = host.get_fact(MariadbAccounts)
    drift = accounts_drift(current, wanted, data.app_db_name)
    if not drift:
        host.noop("MariaDB accounts are as wanted")
        return
    path = "/root/.peakready-accounts.sql"  # /root is 0700
    yield FileUploadCommand(StringIO(accounts_sql(wanted, data.app_db_name, stale_accounts(current, wanted))), path,
                            remote_temp_filename=host.get_temp_filename(path))
    yield StringCommand(f"mariadb < {path}; rc=$?; rm -f {path}; exit $rc")


@operation()
def writable():
    """
    The primary of a replicated topology takes writes: every db host's config says read_only (so a
    primary that restarts, or comes back after a failover, never takes writes on its own), and the
    deploy (or promote.py) lifts it on the one the inventory names as primary.
    """
    current = host.get_fact(MariadbReplication)
    if current and not current["read_only"]:
        host.noop("MariaDB takes writes")
        return
    yield "mariadb -e 'SET GLOBAL read_only = 0'"


REPLICA_CNF = "/root/.peakready-replication.cnf"  # the replication user's client login, 0600
REPLICA_SQL = "/root/.peakready-replica.sql"


def change_master_sql(primary: str, data, secrets: Secrets) -> str:
    """Point this server at `primary` by GTID (slave_pos: where its own applied transactions end)."""
    return (f"CHANGE MASTER TO MASTER_HOST = '{primary}', MASTER_PORT = 3306, "
            f"MASTER_USER = '{data.mariadb_replication_user}', "
            f"MASTER_PASSWORD = '{secrets.get('mariadb_replication_password')}', "
            "MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 5;\n")


def seed_command(db: str) -> str:
    """Load a consistent copy of the primary (its accounts, then the app's database with the GTID
    position it was taken at) into this server, out of its own binary log, starting from nothing."""
    dump = f"mariadb-dump --defaults-extra-file={REPLICA_CNF}"
    script = (
        "set -euo pipefail\n"
        "mariadb -e \"STOP SLAVE; RESET SLAVE ALL; RESET MASTER; SET GLOBAL gtid_slave_pos = ''\"\n"
        "{ echo 'SET SESSION sql_log_bin = 0;'\n"
        f"  {dump} --system=users --insert-ignore --skip-comments\n"
        f"  {dump} --single-transaction --gtid --master-data=1 --routines --triggers --events "
        f"--add-drop-database --skip-comments --databases {db}\n"
        "} | mariadb\n"
    )
    return f"bash -c {shlex.quote(script)}"


@operation()
def replicate(primary: str, data, secrets: Secrets):
    """
    This replica replicates from `primary`, by GTID. A new one (it never replicated) first loads a
    consistent dump of the primary, taken with its GTID position, so a primary that already has data
    is copied, not only one whose binary log holds everything; one that replicates from another host
    (after promote.py) is pointed at `primary` where it stands; a healthy one is left alone, never
    re-seeded nor restarted. The password goes in a 0600 file, never on a command line.
    """
    current = host.get_fact(MariadbReplication) or {}
    if current.get("source") == primary and current.get("sql") == "Yes" and current.get("io") in ("Yes", "Connecting"):
        host.noop(f"replicating from {primary}")
        return
    if not current.get("source"):
        yield StringCommand(seed_command(data.app_db_name))
    else:
        yield StringCommand("mariadb -e 'STOP SLAVE'")
    # After the copy (which may fail): the file with the password is removed by the command that reads it.
    yield FileUploadCommand(StringIO(change_master_sql(primary, data, secrets) + "START SLAVE;\n"), REPLICA_SQL,
                            remote_temp_filename=host.get_temp_filename(REPLICA_SQL))
    yield StringCommand(f"mariadb < {REPLICA_SQL}; rc=$?; rm -f {REPLICA_SQL}; exit $rc")


def cnf_context(m, data, topo: topology.Topology) -> dict:
    """What templates/mariadb/60-peakready.cnf.j2 prints: the plan's part `m` and the knobs."""
    return dict(
        mariadb=m,
        mariadb_reserved_connections=data.mariadb_reserved_connections,
        bind_address=",".join(topo.binds(host.name, "mariadb")),
        wait_timeout_s=data.mariadb_wait_timeout_s,
        max_allowed_packet_mb=data.mariadb_max_allowed_packet_mb,
        long_query_time_s=data.mariadb_long_query_time_s,
        binlog_expire_s=data.mariadb_binlog_expire_days * 86400,
        replicated=bool(topo.replicas),
        semi_sync_timeout_ms=data.mariadb_semi_sync_timeout_ms,
    )


@deploy("mariadb")
def mariadb(plan: HostPlan, secrets: Secrets):
    data, m = host.data, part(plan.mariadb, "MariaDB")
    topo = topology.of_inventory(state.inventory)
    replicated = bool(topo.replicas)
    apt.packages(name="Install MariaDB", packages=["mariadb-server", "mariadb-client", "gzip"], no_recommends=True)

    override = open_files_limit("mariadb", plan.nofile["mariadb"],
                                "open_files_limit cannot go above the unit's limit")
    files.directory(name="MariaDB's log directory (slow query log)", path=LOG_DIR,
                    user="mysql", group="adm", mode=2750)
    sandbox = hardening("mariadb", "mariadb/hardening.conf.j2", writable=WRITABLE)
    cnf = config_file(
        name=f"MariaDB config: buffer pool {m.innodb_buffer_pool_mb} MB, {m.max_connections} connections",
        template="mariadb/60-peakready.cnf.j2", dest=CNF, check=CHECK, keep_last_good=True,
        **cnf_context(m, data, topo),
    )
    systemd.service(name="MariaDB on, now and at boot", service="mariadb.service", running=True, enabled=True)
    restart_or_roll_back(name="Restart MariaDB for its new config", service="mariadb", config=CNF,
                         _if=any_changed(cnf, override, sandbox))

    # Every db host may replicate from any other (promote.py swaps them): the replication user is at
    # each db host's address, this one's too.
    db_hosts = [topo.address(h) for h in topo.in_tier("db")] if replicated else []
    keeper = puller(topo)
    if keeper:
        backup_source(secrets=secrets)
    if m.primary:
        if replicated:
            writable(name="The primary takes writes (read_only off at runtime; on in its config)")
        # Replicas get the database and users from their first copy, then from the binary log. With
        # replicas, the app hosts' addresses include this host's own when it is one (its ProxySQL
        # reads from the replicas, which have the same accounts).
        apps = [topo.address(h) for h in topo.in_tier("app") if h != host.name or replicated]
        accounts(name=f"Database {data.app_db_name}, its users, no anonymous users, root by socket only",
                 data=data, secrets=secrets, app_hosts=apps, db_hosts=db_hosts,
                 backup_hosts=[topo.address(keeper)] if keeper else [])
        backups(data)
    else:
        config_file(name=f"Client login of {data.mariadb_replication_user} for the first copy (0600)",
                    template="mariadb/replication.cnf.j2", dest=REPLICA_CNF, mode=600,
                    user_name=data.mariadb_replication_user, host_address=topo.reach_primary(host.name),
                    password=secrets.get("mariadb_replication_password"))
        replicate(name=f"Replicate from {topo.primary} by GTID (semi-synchronous)",
                  primary=topo.reach_primary(host.name), data=data, secrets=secrets)


def backups(data) -> None:
    db = data.app_db_name
    for script in ("backup", "restore"):
        config_file(
            name=f"peakready-mariadb-{script}",
            template=f"mariadb/peakready-mariadb-{script}.sh.j2",
            dest=f"/usr/local/sbin/peakready-mariadb-{script}",
            mode=750,
            db=db, backup_dir=data.backup_dir, retention_days=data.backup_retention_days,
        )
    service = config_file(
        name="Backup service", template="mariadb/peakready-mariadb-backup.service.j2",
        dest="/etc/systemd/system/peakready-mariadb-backup.service", db=db, backup_dir=data.backup_dir,
    )
    timer = config_file(
        name=f"Backup every day at {data.backup_time}", template="mariadb/peakready-mariadb-backup.timer.j2",
        dest="/etc/systemd/system/peakready-mariadb-backup.timer", db=db, time=data.backup_time,
    )
    systemd.daemon_reload(name="Reload systemd units for the backup", _if=any_changed(service, timer))
    files.directory(name=f"Backups in {data.backup_dir}, root only", path=data.backup_dir, mode=700)
    systemd.service(name="Backup timer on", service="peakready-mariadb-backup.timer", running=True, enabled=True)
