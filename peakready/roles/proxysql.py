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
from io import StringIO

from pyinfra import host, state
from pyinfra.api import FileUploadCommand, StringCommand, deploy, operation
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import File
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from peakready import topology
from peakready.facts import (
    PICK_PROXYSQL_ADMIN_CNF,
    PROXYSQL_ADMIN_CNF,
    PROXYSQL_ADMIN_CNF_LAST_GOOD,
    PROXYSQL_ADMIN_LOGS_IN,
    ProxysqlRuntime,
)
from peakready.ops import config_file, hardening, open_files_limit
from peakready.plan import HostPlan
from peakready.roles.monitoring import proxysql_metrics
from peakready.roles.proxysql_state import (
    ADMIN_PORT,
    ADMIN_USER,
    MYSQL_PORT,
    Desired,
    admin_sql,
    desired,
    drift,
    needs_restart,
)
from peakready.secrets import Secrets
from peakready.sources import proxysql_repository

READY_TIMEOUT_S = 30  # a start waits this long at most for both ports to answer
KEYRING = "/etc/apt/keyrings/proxysql.gpg"


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
