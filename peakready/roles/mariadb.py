"""Role `mariadb`, on db_primary and db_replicas: MariaDB sized by the plan, secured as
mysql_secure_installation would, the app's database and least-privilege users, daily backups."""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, StringCommand, deploy, operation
from pyinfra.operations import apt, files, systemd
from pyinfra.operations.util import any_changed

from peakready.facts import MariadbAccounts
from peakready.hashes import native_hash, sha256
from peakready.ops import config_file, hardening, open_files_limit, restart_or_roll_back
from peakready.plan import HostPlan
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


def desired_accounts(data, secrets: Secrets) -> dict:
    """user -> (password, global privileges, privileges on the app's database)."""
    return {
        data.mariadb_app_user: (secrets.get("mariadb_app_password"), {"USAGE"}, APP_PRIVILEGES),
        data.mariadb_migrate_user: (secrets.get("mariadb_migrate_password"), {"USAGE"}, MIGRATE_PRIVILEGES),
        data.mariadb_monitor_user: (secrets.get("mariadb_monitor_password"), MONITOR_GLOBAL, set()),
    }


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
    for user, (password, global_privs, db_privs) in accounts.items():
        wanted_sha = sha256(native_hash(password))
        for where in LOCAL:
            grantee = f"'{user}'@'{where}'"
            ours.add(grantee)
            found = users.get(f"{user}@{where}")
            if not found or found["plugin"] != "mysql_native_password" or found["auth_sha256"] != wanted_sha:
                drift.append(f"{user}@{where}: missing or another password")
            if current["global"].get(grantee, set()) != global_privs:
                drift.append(f"{user}@{where}: global privileges")
            if current["schema"].get((grantee, db), set()) != db_privs:
                drift.append(f"{user}@{where}: privileges on {db}")
    for grantee, schema in current["schema"]:
        if grantee in ours and schema != db:
            drift.append(f"{grantee}: privileges on {schema}")
    return drift


def accounts_sql(accounts: dict, db: str) -> str:
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
    for user, (password, global_privs, db_privs) in accounts.items():
        for where in LOCAL:
            account = f"'{user}'@'{where}'"
            lines += [
                f"CREATE USER IF NOT EXISTS {account};",
                f"ALTER USER {account} IDENTIFIED BY PASSWORD '{native_hash(password)}';",
                f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {account};",
            ]
            if global_privs - {"USAGE"}:
                lines.append(f"GRANT {', '.join(sorted(global_privs))} ON *.* TO {account};")
            if db_privs:
                lines.append(f"GRANT {', '.join(sorted(db_privs))} ON `{db}`.* TO {account};")
    return "\n".join(lines + ["FLUSH PRIVILEGES;", ""])


@operation()
def accounts(data, secrets: Secrets):
    """
    The app's database and users, and mysql_secure_installation's clean-up, as root over the unix
    socket. Runs only when MariadbAccounts shows a difference; the SQL (with the passwords' hashes) is
    uploaded 0600, run and removed: it is in no command line and in no output.
    """
    wanted = desired_accounts(data, secrets)
    drift = accounts_drift(host.get_fact(MariadbAccounts), wanted, data.app_db_name)
    if not drift:
        host.noop("MariaDB accounts are as wanted")
        return
    path = "/root/.peakready-accounts.sql"  # /root is 0700
    yield FileUploadCommand(StringIO(accounts_sql(wanted, data.app_db_name)), path,
                            remote_temp_filename=host.get_temp_filename(path))
    yield StringCommand(f"mariadb < {path}; rc=$?; rm -f {path}; exit $rc")


@deploy("mariadb")
def mariadb(plan: HostPlan, secrets: Secrets):
    data, m = host.data, plan.mariadb
    apt.packages(name="Install MariaDB", packages=["mariadb-server", "mariadb-client", "gzip"], no_recommends=True)

    override = open_files_limit("mariadb", plan.nofile["mariadb"],
                                "open_files_limit cannot go above the unit's limit")
    files.directory(name="MariaDB's log directory (slow query log)", path=LOG_DIR,
                    user="mysql", group="adm", mode=2750)
    sandbox = hardening("mariadb", "mariadb/hardening.conf.j2", writable=WRITABLE)
    cnf = config_file(
        name=f"MariaDB config: buffer pool {m.innodb_buffer_pool_mb} MB, {m.max_connections} connections",
        template="mariadb/60-peakready.cnf.j2",
        dest=CNF,
        check=CHECK,
        keep_last_good=True,
        mariadb=m,
        mariadb_reserved_connections=data.mariadb_reserved_connections,
        bind_address="127.0.0.1",
        wait_timeout_s=data.mariadb_wait_timeout_s,
        max_allowed_packet_mb=data.mariadb_max_allowed_packet_mb,
        long_query_time_s=data.mariadb_long_query_time_s,
        binlog_expire_s=data.mariadb_binlog_expire_days * 86400,
    )
    systemd.service(name="MariaDB on, now and at boot", service="mariadb.service", running=True, enabled=True)
    restart_or_roll_back(name="Restart MariaDB for its new config", service="mariadb", config=CNF,
                         _if=any_changed(cnf, override, sandbox))

    if m.primary:
        # Replicas get the database and users from the primary's binary log.
        accounts(name=f"Database {data.app_db_name}, its users, no anonymous users, root by socket only",
                 data=data, secrets=secrets)
        backups(data)


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
