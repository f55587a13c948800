"""What ProxySQL on an app host should run (its admin tables and global variables, from the plan,
the knobs and the topology), how that differs from what it runs, and the admin SQL that closes the
difference. peakready/roles/proxysql.py applies it."""

from __future__ import annotations

from dataclasses import dataclass, field

from peakready import PORTS, SOCKETS, topology
from peakready.hashes import native_hash, sha256
from peakready.plan import HostPlan, ProxySQLPlan, part
from peakready.secrets import Secrets

ADMIN_PORT, MYSQL_PORT = PORTS["proxysql_admin"], PORTS["proxysql"]

ADMIN_USER, STATS_USER = "admin", "stats"
WRITER, READER = 10, 20  # hostgroups: the primary takes writes, replicas take reads
REPLICA_READ_WEIGHT, PRIMARY_READ_WEIGHT = 1000, 1  # in the reader hostgroup
# Variables ProxySQL only takes at start (PROXYSQL RESTART / systemctl restart), not at LOAD.
RESTART_VARIABLES = {"mysql-threads", "mysql-interfaces", "mysql-stacksize"}


@dataclass
class Desired:
    """ProxySQL's desired configuration, as rows of its tables (values as its admin prints them)."""

    variables: dict[str, str]
    servers: list[dict] = field(default_factory=list)
    users: list[dict] = field(default_factory=list)
    rules: list[dict] = field(default_factory=list)
    replication: list[dict] = field(default_factory=list)


def desired(plan: HostPlan, data, secrets: Secrets, writers: list[str], readers: list[str],
            server_version: str, metrics: bool = False) -> Desired:
    """What ProxySQL on this app host should run, from the plan, the knobs and the topology; with
    `metrics`, its REST API serves Prometheus's /metrics (peakready/roles/monitoring.py says when)."""
    q = part(plan.proxysql, "ProxySQL")
    users = [{"username": user, "password": native_hash(secrets.get(secret)), "active": 1,
              "default_hostgroup": WRITER, "transaction_persistent": 1, "max_connections": q.max_connections}
             for user, secret in ((data.mariadb_app_user, "mariadb_app_password"),
                                  (data.mariadb_migrate_user, "mariadb_migrate_password"))]
    # With replicas: locking reads stay on the primary, other reads go to the replicas, the rest
    # (writes, and everything inside a transaction: transaction_persistent) to the writer. Without,
    # everything goes to the writer (the users' default hostgroup) and no query is matched against a
    # rule: ProxySQL's rules cost CPU on every query.
    rules, replication = [], []
    if readers:
        rules += [{"rule_id": 1, "active": 1, "match_digest": r"^SELECT .* (FOR UPDATE|LOCK IN SHARE MODE|FOR SHARE)",
                   "destination_hostgroup": WRITER, "apply": 1},
                  {"rule_id": 2, "active": 1, "match_digest": "^SELECT", "destination_hostgroup": READER,
                   "apply": 1}]
        replication.append({"writer_hostgroup": WRITER, "reader_hostgroup": READER, "check_type": "read_only"})
    return Desired(desired_variables(q, data, secrets, bool(readers), server_version, metrics),
                   desired_servers(q, data, writers, readers), users, rules, replication)


def desired_variables(q: ProxySQLPlan, data, secrets: Secrets, replicas: bool, server_version: str,
                      metrics: bool) -> dict[str, str]:
    """ProxySQL's global variables (admin- and mysql-), from its plan and the knobs."""
    return {
        "admin-admin_credentials": f"{ADMIN_USER}:{secrets.get('proxysql_admin_password')}",
        # Upstream's stats:stats lets any local process read the processlist and query digests.
        "admin-stats_credentials": f"{STATS_USER}:{secrets.get('proxysql_stats_password')}",
        "admin-mysql_ifaces": f"127.0.0.1:{ADMIN_PORT}",
        # Loopback TCP for tools, the socket for the app (its DATABASE_SOCKET).
        "mysql-interfaces": f"127.0.0.1:{MYSQL_PORT};{SOCKETS['proxysql']}",
        # No TLS for clients: they are on this host (loopback, the socket), where it protects nothing
        # and cost ProxySQL a third of its CPU per statement (measured with mariadb-slap, which asks
        # for TLS whenever the server offers it).
        "mysql-have_ssl": "false",
        "mysql-threads": str(q.mysql_threads),
        "mysql-max_connections": str(q.max_connections),
        "mysql-free_connections_pct": str(data.proxysql_free_connections_pct),
        "mysql-connection_max_age_ms": str(q.connection_max_age_ms),
        "mysql-multiplexing": "true",
        "mysql-monitor_username": data.mariadb_monitor_user,
        "mysql-monitor_password": secrets.get("mariadb_monitor_password"),
        # Clients see the backend's version, not ProxySQL's default.
        "mysql-server_version": server_version,
        # With replicas the primary stays in the reader hostgroup (PRIMARY_READ_WEIGHT in desired_servers
        # below: ProxySQL adds a writer there only when it is not in it already); false would take
        # it out as soon as the monitor saw it writable.
        "mysql-monitor_writer_is_also_reader": "true" if replicas else "false",
        # ProxySQL 2.7's REST API binds every address, with no setting to narrow it: on only where
        # this host's firewall keeps the port from everyone but the monitoring host.
        "admin-restapi_enabled": "true" if metrics else "false",
        "admin-restapi_port": str(PORTS["proxysql_metrics"]),
    }


def desired_servers(q: ProxySQLPlan, data, writers: list[str], readers: list[str]) -> list[dict]:
    """The primary in the writer hostgroup; with replicas, they and the primary in the reader hostgroup."""
    def backend(address: str) -> dict:
        # MariaDB on this host: through its socket (port 0 tells ProxySQL it is one).
        where = (SOCKETS["mariadb"], 0) if address == topology.LOOPBACK else (address, 3306)
        return {"hostname": where[0], "port": where[1], "max_connections": q.backend_max_connections}
    servers = [{"hostgroup_id": WRITER, **backend(h), "weight": 1, "max_replication_lag": 0} for h in writers]
    if readers:
        # The replicas share the reads; the primary is a reader too, with a weight so low it only
        # serves reads when every replica is down, shunned or lagging.
        servers += [{"hostgroup_id": READER, **backend(h), "weight": PRIMARY_READ_WEIGHT, "max_replication_lag": 0}
                    for h in writers]
        servers += [{"hostgroup_id": READER, **backend(h), "weight": REPLICA_READ_WEIGHT,
                     "max_replication_lag": data.proxysql_max_replication_lag_s} for h in readers]
    return servers


SECRET_VARIABLES = {"admin-admin_credentials", "admin-stats_credentials", "mysql-monitor_password"}


def rows(items: list[dict], keys: tuple[str, ...]) -> list[tuple]:
    """Table rows as ProxysqlRuntime reads them: the `keys` columns as text, sorted."""
    return sorted(tuple(str(i[k]) for k in keys) for i in items)


def as_runtime(d: Desired) -> dict:
    """The desired state as ProxysqlRuntime reads it (secrets as SHA-256), for comparison."""
    return {
        "servers": rows(d.servers, ("hostgroup_id", "hostname", "port", "weight", "max_connections",
                                    "max_replication_lag")),
        "users": sorted((u["username"], sha256(u["password"]), *(str(u[k]) for k in
                        ("active", "default_hostgroup", "transaction_persistent", "max_connections")))
                        for u in d.users),
        "rules": rows(d.rules, ("rule_id", "active", "match_digest", "destination_hostgroup", "apply")),
        "replication": rows(d.replication, ("writer_hostgroup", "reader_hostgroup", "check_type")),
        "variables": {k: sha256(v) if k in SECRET_VARIABLES else v for k, v in d.variables.items()},
    }


def drift(current: dict | None, d: Desired) -> set[str]:
    """The parts of ProxySQL's runtime that differ from the desired state."""
    wanted = as_runtime(d)
    if current is None:
        return set(wanted)
    return {part for part, rows in wanted.items()
            if (current.get(part) if part != "variables"
                else {k: current["variables"].get(k) for k in rows}) != rows}


def _values(row: dict) -> str:
    return ", ".join(str(v) if isinstance(v, int) else "'" + str(v).replace("'", "''") + "'" for v in row.values())


def admin_sql(d: Desired, parts: set[str]) -> str:
    """Admin-interface SQL bringing `parts` to the desired state, loaded to runtime and saved."""
    out = []
    tables = {"servers": ("mysql_servers", d.servers, "MYSQL SERVERS"),
              "replication": ("mysql_replication_hostgroups", d.replication, "MYSQL SERVERS"),
              "users": ("mysql_users", d.users, "MYSQL USERS"),
              "rules": ("mysql_query_rules", d.rules, "MYSQL QUERY RULES")}
    loads = []
    for name in ("servers", "replication", "users", "rules"):
        if name in parts:
            table, rows, load = tables[name]
            out.append(f"DELETE FROM {table};")
            out += [f"INSERT INTO {table} ({', '.join(r)}) VALUES ({_values(r)});" for r in rows]
            if load not in loads:
                loads.append(load)
    for load in loads:
        out += [f"LOAD {load} TO RUNTIME;", f"SAVE {load} TO DISK;"]
    if "variables" in parts:
        out += [f"UPDATE global_variables SET variable_value = '{v}' WHERE variable_name = '{k}';"
                for k, v in d.variables.items()]
        # Saved before they are loaded: LOAD puts the running value of a variable ProxySQL only takes
        # at start (mysql-threads) back into the main table, and a SAVE after it would keep the old
        # value on disk for ever (seen with ProxySQL 2.7.2). The restart that follows reads the disk.
        for load in ("MYSQL VARIABLES", "ADMIN VARIABLES"):
            out += [f"SAVE {load} TO DISK;", f"LOAD {load} TO RUNTIME;"]
    return "\n".join(out + [""])


def needs_restart(current: dict | None, d: Desired) -> bool:
    """A variable ProxySQL only takes at start differs, or it runs another number of MySQL threads
    than it was told (a restart that an earlier run did not get to)."""
    if current is None:  # not running yet: its first start reads the bootstrap cnf
        return False
    return (any(current["variables"].get(k) != d.variables[k] for k in RESTART_VARIABLES if k in d.variables)
            or current.get("workers") not in (None, int(d.variables["mysql-threads"])))
