"""Role `monitoring`: the exporters on every host (`exporters`), Prometheus on the host of the
monitoring group (`prometheus`). All from Debian's packages; peakready only sets how each starts
(a drop-in replacing its ExecStart: the address it binds, its credentials' file) and what Prometheus
scrapes and alerts on (peakready/monitoring.py, written as YAML from data).

Every exporter binds one address: loopback on a single VPS, the host's private address when
Prometheus scrapes it from another host (and the firewall admits its port from that host only).
Prometheus binds loopback: `make status` and the SSH tunnel of docs/operations.md reach it there.
"""

from __future__ import annotations

from pyinfra import host, logger, state
from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, systemd

from peakready import PORTS, monitoring, topology, validate
from peakready.facts import CanManageFirewall
from peakready.ops import config_file, config_set, when_changed
from peakready.plan import HostPlan, Plan
from peakready.secrets import Secrets

MYSQLD_CNF = "/etc/prometheus/mysqld-exporter.cnf"  # 0640 root:prometheus: the exporter's password
REDIS_ENV = "/etc/prometheus/redis-exporter.env"  # 0600 root: systemd reads it before dropping to the user
MTAIL_DIR = "/etc/mtail/peakready"  # mtail loads every program of its --progs directory: ours only
MTAIL_PROGRAM = f"{MTAIL_DIR}/nginx.mtail"
ACCESS_LOG = "/var/log/nginx/access.log"
PROMETHEUS_YML = "/etc/prometheus/prometheus.yml"
PROMETHEUS_DATA = "/var/lib/prometheus/metrics2"
# promtool reads prometheus.yml and every rule file it names, as they will be after the swap.
PROMTOOL_CHECK = f"promtool check config --lint=none {PROMETHEUS_YML} >/dev/null"
# Response-time buckets (s) of nginx's answers, as mtail counts them; the SLO is added as a bound.
BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
# The mysqld exporter's collectors that read information_schema's InnoDB tables (PROCESS), off:
# its user gets SLAVE MONITOR only (peakready/roles/mariadb.py).
MYSQLD_COLLECTORS_OFF = ["info_schema.innodb_cmp", "info_schema.innodb_cmpmem", "info_schema.query_response_time"]


def proxysql_metrics(h) -> bool:
    """ProxySQL's REST API serves /metrics on `h`: only where monitoring is on and `h`'s own firewall
    is in force (ProxySQL 2.7 binds it to every address; the firewall keeps it for the monitoring host)."""
    data = h.data
    return bool(data.get("monitoring") and data.get("proxysql_enabled") and data.get("firewall")
                and h.get_fact(CanManageFirewall))


def commands(bind: str) -> dict[str, str]:
    """Each exporter's command line: the address it binds, where it reads, never a secret."""
    mysqld_off = " ".join(f"--no-collect.{c}" for c in MYSQLD_COLLECTORS_OFF)
    return {
        # Also the figures other services leave in the textfile directory (the backup host's).
        "node_exporter": f"/usr/bin/prometheus-node-exporter --web.listen-address={bind}:{PORTS['node_exporter']} "
                         f"--collector.textfile.directory={monitoring.TEXTFILE_DIR}",
        "mysqld_exporter": f"/usr/bin/prometheus-mysqld-exporter --web.listen-address={bind}:{PORTS['mysqld_exporter']} "
                           f"--config.my-cnf={MYSQLD_CNF} {mysqld_off}",
        # The user and password come from REDIS_USER and REDIS_PASSWORD (REDIS_ENV); no CONFIG GET.
        "redis_exporter": f"/usr/bin/prometheus-redis-exporter -web.listen-address={bind}:{PORTS['redis_exporter']} "
                          f"-redis.addr=redis://127.0.0.1:{PORTS['redis']} -config-command=-",
        "nginx_exporter": f"/usr/bin/prometheus-nginx-exporter -web.listen-address={bind}:{PORTS['nginx_exporter']} "
                          f"-nginx.scrape-uri=http://127.0.0.1:{PORTS['nginx_status']}/nginx_status",
        "mtail": f"/usr/bin/mtail --progs {MTAIL_DIR} --logtostderr --address {bind} --port {PORTS['mtail']} "
                 f"--logs {ACCESS_LOG}",
    }


@deploy("exporters")
def exporters(plan: HostPlan, secrets: Secrets):
    data = host.data
    if not data.monitoring:
        return
    names = list(plan.exporters)
    topo = topology.of_inventory(state.inventory)
    bind = topo.exporter_bind(host.name)
    if topo.monitor is None:
        logger.warning(f"{host.name}: no host is in the inventory's monitoring group, so nothing scrapes the "
                       "exporters (on loopback) and no alert fires: add one host to monitoring (on one VPS, "
                       "that VPS), or set monitoring = False.")
    # Debian's packages add this user too (and keep one that exists): made first, so the credentials'
    # file below can be its group's before the first start.
    server.group(name="prometheus group", group="prometheus", system=True)
    server.user(name="prometheus user", user="prometheus", group="prometheus", system=True,
                shell="/usr/sbin/nologin", home="/var/lib/prometheus", create_home=False)
    reads = credentials(data, secrets, names)
    dropins = {name: dropin(name, bind) for name in names}
    systemd.daemon_reload(name="Reload systemd units for the exporters", _if=when_changed(*dropins.values()))
    apt.packages(name=f"Install the exporters: {', '.join(monitoring.EXPORTER_UNITS[n] for n in names)}",
                 packages=[monitoring.EXPORTER_UNITS[n] for n in names], no_recommends=True)
    for name in names:
        unit = f"{monitoring.EXPORTER_UNITS[name]}.service"
        systemd.service(name=f"{monitoring.EXPORTER_UNITS[name]} on, now and at boot", service=unit, running=True, enabled=True)
        # Also right after the install (the package started it already with these): the install may
        # be another exporter's, and this one's settings may have changed in the same run.
        changed = [dropins[name]] + ([reads[name]] if name in reads else [])
        systemd.service(name=f"Restart {monitoring.EXPORTER_UNITS[name]} for its new settings", service=unit, restarted=True,
                        _if=when_changed(*changed))


def credentials(data, secrets: Secrets, names: list[str]) -> dict:
    """What each exporter of `names` reads besides its drop-in: its login, or mtail's program."""
    reads = {}
    if "mysqld_exporter" in names:
        reads["mysqld_exporter"] = config_file(
            name=f"mysqld exporter's login, {data.mariadb_exporter_user} on the socket ({MYSQLD_CNF}, 0640)",
            template="monitoring/mysqld-exporter.cnf.j2", dest=MYSQLD_CNF, mode=640, group="prometheus",
            user_name=data.mariadb_exporter_user, password=secrets.get("mariadb_exporter_password"))
    if "redis_exporter" in names:
        reads["redis_exporter"] = config_file(
            name=f"Redis exporter's login, ACL user {data.redis_exporter_user} ({REDIS_ENV}, 0600)",
            template="monitoring/redis-exporter.env.j2", dest=REDIS_ENV, mode=600,
            user_name=data.redis_exporter_user, password=secrets.get("redis_exporter_password"))
    if "mtail" in names:
        files.directory(name=f"mtail's programs ({MTAIL_DIR})", path=MTAIL_DIR)
        reads["mtail"] = config_file(
            name=f"mtail: nginx's answers by status and their times, from {ACCESS_LOG}",
            template="monitoring/nginx.mtail.j2", dest=MTAIL_PROGRAM,
            buckets=sorted(set(BUCKETS) | {data.slo_p95_ms / 1000}))
    return reads


def dropin(name: str, bind: str):
    """The exporter's systemd drop-in: its command line (listening on `bind` only) and its sandbox."""
    return config_file(
        name=f"{monitoring.EXPORTER_UNITS[name]}: listens on {bind} only, sandboxed",
        template="monitoring/exporter.conf.j2",
        dest=f"/etc/systemd/system/{monitoring.EXPORTER_UNITS[name]}.service.d/peakready.conf",
        command=commands(bind)[name],
        environment_file=REDIS_ENV if name == "redis_exporter" else "",
        logs=ACCESS_LOG if name == "mtail" else "",
        # node_exporter reads network devices over netlink too.
        families="AF_INET AF_INET6 AF_UNIX" + (" AF_NETLINK" if name == "node_exporter" else ""),
    )


@deploy("prometheus")
def prometheus(plan: HostPlan, secrets: Secrets, whole: Plan):
    """Prometheus on the monitoring host: every target of the inventory, the alert rules, retention
    from the plan. Its config and rules are checked by promtool before they replace the running ones."""
    data = host.data
    m = plan.monitoring
    if not data.monitoring or not m:
        return
    k = validate.knob_values(data.dict())
    topo = topology.of_inventory(state.inventory)
    hosts = {}
    for other in state.inventory:
        found = [t for t in monitoring.targets(topo.tiers(other.name), k)
                 if t != "proxysql_metrics" or proxysql_metrics(other)]
        hosts[other.name] = {"address": topo.reach(host.name, other.name), "targets": found,
                             "app_port": other.data.app_port}
    # The alert rules carry limits of every host's plan (`whole`: Redis's maxmemory on each cache host).
    dropin = config_file(
        name=f"Prometheus: 127.0.0.1:{PORTS['prometheus']}, {data.prometheus_retention_days} days or "
             f"{m.retention_size_mb} MB of samples",
        template="monitoring/prometheus.conf.j2",
        dest="/etc/systemd/system/prometheus.service.d/peakready.conf",
        config=PROMETHEUS_YML, data_dir=PROMETHEUS_DATA, listen=f"127.0.0.1:{PORTS['prometheus']}",
        retention_days=data.prometheus_retention_days, retention_size_mb=m.retention_size_mb,
    )
    systemd.daemon_reload(name="Reload systemd units for Prometheus", _if=dropin.did_change)
    installed = apt.packages(name="Install Prometheus", packages=["prometheus"], no_recommends=True)
    files.directory(name="Prometheus's rule files", path="/etc/prometheus/rules")
    configs = config_set(
        name=f"Prometheus: {sum(len(h['targets']) for h in hosts.values()) + 1} targets every "
             f"{m.scrape_interval_s} s, the alert rules (promtool checks both)",
        check=PROMTOOL_CHECK,
        files=[
            {"content": monitoring.dump(monitoring.scrape_config(m, k, hosts)), "dest": PROMETHEUS_YML,
             "mode": 640, "group": "prometheus"},
            {"content": monitoring.dump(monitoring.alert_rules(whole, m, k)), "dest": monitoring.RULES_FILE,
             "mode": 640, "group": "prometheus"},
        ],
    )
    started = systemd.service(name="Prometheus on, now and at boot", service="prometheus.service", running=True,
                              enabled=True)
    restart = when_changed(dropin, unless=[installed, started])
    systemd.service(name="Restart Prometheus for its new flags", service="prometheus.service", restarted=True,
                    _if=restart)
    # Also right after the install: the package started Prometheus on its own example config, and
    # promtool (in the package) could only check ours once it was there.
    systemd.service(name="Reload Prometheus (config and rules passed promtool)", service="prometheus.service",
                    reloaded=True, _if=when_changed(configs, unless=[restart]))
