"""Role `proxysql`, on app_servers when proxysql_enabled: connection pooling and multiplexing in
front of MariaDB, configured through its admin interface so a re-run changes nothing.

ProxySQL keeps its configuration in /var/lib/proxysql/proxysql.db and reads /etc/proxysql.cnf only
when that database does not exist. So the cnf is written before the package is installed (its first
start then takes our admin credentials, never admin:admin), and every later change goes through the
admin interface: read the runtime tables, and only where they differ from the desired state apply
it, LOAD ... TO RUNTIME and SAVE ... TO DISK.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass, field
from io import StringIO

from pyinfra import host, state
from pyinfra.api import FileUploadCommand, StringCommand, deploy, operation
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import File
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from peakready import PORTS, SOCKETS, topology
from peakready.facts import (
    PICK_PROXYSQL_ADMIN_CNF,
    PROXYSQL_ADMIN_CNF,
    PROXYSQL_ADMIN_CNF_LAST_GOOD,
    PROXYSQL_ADMIN_LOGS_IN,
    ProxysqlRuntime,
)
from peakready.hashes import native_hash, sha256
from peakready.ops import config_file, hardening, open_files_limit
from peakready.plan import HostPlan, ProxySQLPlan, part
from peakready.roles.monitoring import proxysql_metrics
from peakready.secrets import Secrets
from peakready.sources import proxysql_repository

ADMIN_PORT, MYSQL_PORT = PORTS["proxysql_admin"], PORTS["proxysql"]
ADMIN_USER, STATS_USER = "admin", "stats"
READY_TIMEOUT_S = 30  # a start waits this long at most for both ports to answer
WRITER, READER = 10, 20  # hostgroups: the primary takes writes, replicas take reads
REPLICA_READ_WEIGHT, PRIMARY_READ_WEIGHT = 1000, 1  # in the reader hostgroup
KEYRING = "/etc/apt/keyrings/proxysql.gpg"
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


@operation()
def runtime(d: Desired):
    """
    Bring ProxySQL's runtime to `d` through the admin interface, only where it differs; restart
    ProxySQL when a variable it only reads at start changed. The SQL (it holds credentials) is
    uploaded 0600 under /root, run and removed: it is in no command line and in no output.
    """
    current = host.get_fact(ProxysqlRuntime, names=sorted(d.variables))
    parts, restart = drift(current, d), needs_restart(current, d)
    if not parts and not restart:
        host.noop("ProxySQL's runtime is as wanted")
        return
    if parts:
        yield FileUploadCommand(StringIO(admin_sql(d, parts)), ADMIN_SQL,
                                remote_temp_filename=host.get_temp_filename(ADMIN_SQL))
        yield StringCommand(apply_command(ADMIN_SQL, f"v=$({VERSION_COMMAND}) && sed -i \"s/{LIVE_VERSION}/$v/\" {ADMIN_SQL} && "))
    elif host.get_fact(File, path=PROXYSQL_ADMIN_CNF_LAST_GOOD):  # left by a run cut short after ProxySQL took the password
        yield StringCommand(FORGET_OLD_CNF)
    if restart:  # after the SQL: the restart reads what it saved to disk
        yield StringCommand("systemctl restart proxysql")


ADMIN_SQL = "/root/.peakready-proxysql.sql"
# The old admin file goes once the new one logs in (ProxySQL has loaded the new password).
FORGET_OLD_CNF = (f"if {PROXYSQL_ADMIN_LOGS_IN.format(path=PROXYSQL_ADMIN_CNF)}; "
                  f"then rm -f {PROXYSQL_ADMIN_CNF_LAST_GOOD}; fi")


def apply_command(path: str, prepare: str = "") -> str:
    """Run the admin SQL at `path` (after `prepare`, a command ending in &&) through the admin file
    that logs in: the old one while ProxySQL does not have a new admin password yet (this SQL loads
    it). The SQL file goes whatever happens (it holds credentials); the old admin file once the new
    one logs in."""
    refused = "echo \"ProxySQL's admin interface refuses both admin files\" >&2; rc=1"
    return (f"{PICK_PROXYSQL_ADMIN_CNF}; if [ -n \"$cnf\" ]; then {prepare}mariadb --defaults-file=\"$cnf\" < {path}; "
            f"rc=$?; else {refused}; fi; rm -f {path}; {FORGET_OLD_CNF}; exit $rc")


def needs_restart(current: dict | None, d: Desired) -> bool:
    """A variable ProxySQL only takes at start differs, or it runs another number of MySQL threads
    than it was told (a restart that an earlier run did not get to)."""
    if current is None:  # not running yet: its first start reads the bootstrap cnf
        return False
    return (any(current["variables"].get(k) != d.variables[k] for k in RESTART_VARIABLES if k in d.variables)
            or current.get("workers") not in (None, int(d.variables["mysql-threads"])))


# Until MariaDB is installed on the primary (a fresh topology), ProxySQL takes the version while the
# deploy runs: the admin SQL carries this placeholder, replaced with the MariaDB version that apt on
# this host installs or would install (the db hosts run the same Debian release, from the same mirror).
LIVE_VERSION = "@SERVER_VERSION@"
VERSION_COMMAND = ("apt-cache policy mariadb-server | awk '/Installed:/ {i=$2} /Candidate:/ {c=$2} "
                   "END {print (i != \"(none)\" && i != \"\" ? i : c)}' | sed 's/^[0-9]*://; s/[-+].*/-MariaDB/'")


def server_version() -> str:
    """The version MariaDB reports, as clients see it ("10.11.19-MariaDB"), or LIVE_VERSION."""
    for other in state.inventory:
        if "db_primary" in other.groups:
            version = other.get_fact(DebPackages).get("mariadb-server")
            if version:
                upstream = sorted(version)[-1].split(":", 1)[-1].split("-", 1)[0].split("+", 1)[0]
                return f"{upstream}-MariaDB"
    return LIVE_VERSION


@deploy("proxysql")
def proxysql(plan: HostPlan, secrets: Secrets):
    data = host.data
    if not data.proxysql_enabled:
        return
    topo = topology.of_inventory(state.inventory)
    writers = [topo.reach_primary(host.name)]
    readers = [topo.reach(host.name, r) for r in topo.replicas]
    want = desired(plan, data, secrets, writers, readers, server_version(), metrics=proxysql_metrics(host))

    apt.packages(name="MariaDB client (for ProxySQL's admin interface)", packages=["mariadb-client"],
                 no_recommends=True)
    # Before the package: its first start must read our credentials, not admin:admin. The package
    # keeps an existing proxysql user, and ProxySQL (User=proxysql) must be able to read the cnf.
    server.group(name="proxysql group", group="proxysql", system=True)
    server.user(name="proxysql user", user="proxysql", group="proxysql", system=True, shell="/bin/false",
                home="/var/lib/proxysql", create_home=False)
    config_file(
        name="ProxySQL bootstrap config (/etc/proxysql.cnf, read at first start only)",
        template="proxysql/proxysql.cnf.j2", dest="/etc/proxysql.cnf", mode=640, group="proxysql",
        proxysql={"variables": {k: v for k, v in want.variables.items() if k != "mysql-server_version"},
                  "servers": want.servers, "users": want.users, "rules": want.rules, "replication": want.replication},
    )
    config_file(
        name="Admin client config for root (0600)", template="proxysql/admin.cnf.j2", dest=PROXYSQL_ADMIN_CNF, mode=600,
        # A new admin password: the runtime below logs in with the old file, kept only if it works.
        keep_last_good=True, keep_if=PROXYSQL_ADMIN_LOGS_IN,
        admin_port=ADMIN_PORT, admin_user=ADMIN_USER, admin_password=secrets.get("proxysql_admin_password"),
    )
    install(data)
    override = open_files_limit("proxysql", plan.nofile["proxysql"], "the plan's client and backend connections")
    sandbox = hardening("proxysql", "proxysql/hardening.conf.j2", proxysql={
        "admin_port": ADMIN_PORT, "mysql_port": MYSQL_PORT, "ready_tries": READY_TIMEOUT_S * 10})
    systemd.service(name="ProxySQL on, now and at boot", service="proxysql.service", running=True, enabled=True)
    systemd.service(name="Restart ProxySQL for its open-file limit and sandbox", service="proxysql.service",
                    restarted=True, _if=any_changed(override, sandbox))
    runtime(name="ProxySQL runtime: servers, users, query rules, variables (LOAD TO RUNTIME, SAVE TO DISK)", d=want)


KEEP_OUR_CNF = "-o Dpkg::Options::=--force-confold"


@operation()
def local_deb(path: str, version: str):
    """
    Install the ProxySQL package uploaded at `path` unless `version` is installed: with apt (not
    dpkg -i), so its dependencies come from the host's mirror, keeping the cnf written before it.
    One operation whether or not it has work to do, so every run has the same operations.

    **Example:**

    .. code:: python

        local_deb(name="Install ProxySQL", path="/var/cache/peakready/proxysql_2.7.2_amd64.deb", version="2.7.2")
    """
    if version in host.get_fact(DebPackages).get("proxysql", []):
        host.noop(f"ProxySQL {version} is installed")
        return
    yield f"DEBIAN_FRONTEND=noninteractive apt-get install -y {KEEP_OUR_CNF} {shlex.quote(path)}"


def install(data) -> None:
    """From a local .deb (proxysql_deb) or ProxySQL's official repository (proxysql_series)."""
    if data.proxysql_deb:
        from peakready.debfile import control

        version = control(data.proxysql_deb)["Version"]
        remote = f"/var/cache/peakready/{posixpath.basename(data.proxysql_deb)}"
        files.put(name=f"Upload {posixpath.basename(data.proxysql_deb)}", src=data.proxysql_deb, dest=remote,
                  create_remote_dir=True)
        local_deb(name=f"Install ProxySQL {version} from the local package", path=remote, version=version)
        return
    codename = host.get_fact(LinuxDistribution)["release_meta"].get("VERSION_CODENAME", "bookworm")
    repo = proxysql_repository(data.proxysql_series, codename)
    files.directory(name="apt keyrings directory", path="/etc/apt/keyrings", mode=755)
    files.download(name=f"ProxySQL {repo['series']} repository key", src=repo["key"], dest=KEYRING, mode=644)
    source = config_file(name=f"ProxySQL {repo['series']} repository ({codename})",
                         template="proxysql/proxysql.sources.j2", dest="/etc/apt/sources.list.d/proxysql.sources",
                         proxysql=repo | {"keyring": KEYRING})
    apt.update(name="Refresh apt for the ProxySQL repository", _if=source.did_change)
    apt.packages(name="Install ProxySQL", packages=["proxysql"], extra_install_args=KEEP_OUR_CNF)
