"""Facts read from MariaDB and ProxySQL as root on the host (their accounts, runtime tables, replication)."""

from __future__ import annotations

from typing import Any

from pyinfra.api import FactBase


class MariadbAccounts(FactBase):
    """MariaDB's accounts, privileges and databases, read as root over the unix socket.

    {"users": {"app@localhost": {"plugin": ..., "auth_sha256": ...}}, "global": {"'monitor'@'localhost'": {...}},
     "schema": {("'app'@'localhost'", "peakready"): {"SELECT", ...}}, "databases": {...}}
    or None when MariaDB is not installed or not running yet. Password hashes are never read
    out, only a SHA-256 of them (a mysql_native_password hash is as good as the password).
    """

    def command(self) -> str:
        return (
            "command -v mariadb >/dev/null && mariadb -N -B -e \""
            "SELECT 'U', user, host, IFNULL(JSON_VALUE(priv, '$.plugin'), ''), "
            "SHA2(IFNULL(JSON_VALUE(priv, '$.authentication_string'), ''), 256) FROM mysql.global_priv; "
            "SELECT 'G', GRANTEE, PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES; "
            "SELECT 'S', GRANTEE, TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES; "
            "SELECT 'D', SCHEMA_NAME FROM information_schema.SCHEMATA\" 2>/dev/null || true"
        )

    def process(self, output):
        found: dict[str, Any] = {"users": {}, "global": {}, "schema": {}, "databases": set()}
        for line in output:
            kind, *fields = line.split("\t")
            if kind == "U":
                user, hostname, plugin, auth_sha = fields
                found["users"][f"{user}@{hostname}"] = {"plugin": plugin, "auth_sha256": auth_sha}
            elif kind == "G":
                found["global"].setdefault(fields[0], set()).add(fields[1])
            elif kind == "S":
                found["schema"].setdefault((fields[0], fields[1]), set()).add(fields[2])
            elif kind == "D":
                found["databases"].add(fields[0])
        return found if found["users"] else None


# How root reaches ProxySQL's admin interface. During a rotation of its password the deploy writes the
# new file (keeping the one it replaces beside it, .peakready-last-good) before ProxySQL has loaded the
# new password: whichever of the two logs in is used. Sets $cnf, empty when neither does.
PROXYSQL_ADMIN_CNF = "/root/.peakready-proxysql-admin.cnf"
PROXYSQL_ADMIN_CNF_LAST_GOOD = f"{PROXYSQL_ADMIN_CNF}.peakready-last-good"
# A shell test: the admin file {path} logs in.
PROXYSQL_ADMIN_LOGS_IN = "mariadb --defaults-file={path} -e 'SELECT 1' >/dev/null 2>&1"
_EACH_LOGS_IN = PROXYSQL_ADMIN_LOGS_IN.format(path='"$c"')
PICK_PROXYSQL_ADMIN_CNF = (
    f"cnf=; for c in {PROXYSQL_ADMIN_CNF} {PROXYSQL_ADMIN_CNF_LAST_GOOD}; do "
    f"[ -f \"$c\" ] && {_EACH_LOGS_IN} && {{ cnf=$c; break; }}; done")


class ProxysqlRuntime(FactBase):
    """ProxySQL's runtime tables, read through its admin interface as root (PROXYSQL_ADMIN_CNF, or
    the one it replaced during a rotation), or None when ProxySQL or that file is not there yet. Passwords and credentials are read out only as
    SHA-256, so -vvv output never shows them.

    {"servers": [(hostgroup_id, hostname, port, weight, max_connections, max_replication_lag)], "users": [...],
     "rules": [...], "replication": [...], "variables": {name: value},
     "workers": the MySQL threads running (mysql-threads is only taken at start)}
    """

    def command(self, names: list[str]) -> str:
        wanted = ", ".join(f"'{n}'" for n in names)
        return rf"""
command -v mariadb >/dev/null || exit 0
{PICK_PROXYSQL_ADMIN_CNF}
[ -n "$cnf" ] || exit 0
q() {{ mariadb --defaults-file=$cnf -N -B -e "$1"; }}
hash() {{ printf %s "$1" | sha256sum | cut -c1-64; }}
tab=$(printf '\t')
echo ok
q "SELECT hostgroup_id, hostname, port, weight, max_connections, max_replication_lag FROM runtime_mysql_servers" | sed "s/^/S$tab/"
q "SELECT DISTINCT username, password, active, default_hostgroup, transaction_persistent, max_connections FROM runtime_mysql_users" |
    while IFS= read -r line; do
        # Split by hand: read with IFS=<tab> would merge the two tabs around an empty password.
        user=${{line%%"$tab"*}}; line=${{line#*"$tab"}}; pass=${{line%%"$tab"*}}; rest=${{line#*"$tab"}}
        printf 'U\t%s\t%s\t%s\n' "$user" "$(hash "$pass")" "$rest"
    done
q "SELECT rule_id, active, match_digest, destination_hostgroup, apply FROM runtime_mysql_query_rules" | sed "s/^/R$tab/"
q "SELECT writer_hostgroup, reader_hostgroup, check_type FROM runtime_mysql_replication_hostgroups" | sed "s/^/H$tab/"
q "SELECT Variable_Value FROM stats_mysql_global WHERE Variable_Name = 'MySQL_Thread_Workers'" | sed "s/^/W$tab/"
q "SELECT variable_name, variable_value FROM runtime_global_variables WHERE variable_name IN ({wanted})" |
    while IFS="$tab" read -r name value; do
        case $name in *password*|*credentials*) value=$(hash "$value");; esac
        printf 'V\t%s\t%s\n' "$name" "$value"
    done
"""

    def process(self, output):
        if not output or output[0] != "ok":
            return None
        found: dict[str, Any] = {"servers": [], "users": [], "rules": [], "replication": [], "variables": {}}
        parts = {"S": "servers", "U": "users", "R": "rules", "H": "replication"}
        for line in output[1:]:
            kind, *fields = line.split("\t")
            if kind == "V":
                found["variables"][fields[0]] = fields[1] if len(fields) > 1 else ""
            elif kind == "W":
                found["workers"] = int(fields[0])
            elif kind in parts:
                found[parts[kind]].append(tuple(fields))
        for part in parts.values():
            found[part].sort()
        return found


class MariadbReplication(FactBase):
    """MariaDB's replication state, as root over the unix socket, or None when it does not answer:

    {"read_only": bool, "gtid_binlog_pos": str, "gtid_current_pos": str, "gtid_slave_pos": str,
     "semi_sync_master": bool, "semi_sync_slave": bool,
     "source": the primary it replicates from ("" when none), "io": "Yes"/"No"/"Connecting"/"",
     "sql": "Yes"/"No"/"", "lag_s": int or None, "error": the last error ("" when none)}
    """

    def command(self) -> str:
        return (
            "command -v mariadb >/dev/null || exit 0; "
            "mariadb -N -B -e \"SELECT 'V', @@global.read_only, @@global.gtid_binlog_pos, @@global.gtid_current_pos, "
            "@@global.gtid_slave_pos, @@global.rpl_semi_sync_master_enabled, @@global.rpl_semi_sync_slave_enabled\" "
            "2>/dev/null || exit 0; "
            "mariadb -e 'SHOW SLAVE STATUS\\G' 2>/dev/null | sed -n 's/^ *\\([A-Za-z_]*\\): \\(.*\\)$/S\\t\\1\\t\\2/p'"
        )

    def process(self, output):
        found = {}
        status = {}
        for line in output:
            kind, *fields = line.split("\t")
            if kind == "V" and len(fields) == 6:
                found = {"read_only": fields[0] == "1", "gtid_binlog_pos": fields[1], "gtid_current_pos": fields[2],
                         "gtid_slave_pos": fields[3], "semi_sync_master": fields[4] == "1",
                         "semi_sync_slave": fields[5] == "1"}
            elif kind == "S" and len(fields) == 2:
                status[fields[0]] = fields[1]
        if not found:
            return None
        lag = status.get("Seconds_Behind_Master", "")
        found.update(source=status.get("Master_Host", ""), io=status.get("Slave_IO_Running", ""),
                     sql=status.get("Slave_SQL_Running", ""), lag_s=int(lag) if lag.isdigit() else None,
                     error=status.get("Last_Error", "") or status.get("Last_IO_Error", ""))
        return found
