"""The one table of the stack's services: each with its fixed port, where it runs, who reaches it
from other hosts, its Debian package and systemd unit (exporters), its Prometheus job, and what it
costs the monitoring host. PORTS, the firewall's clients, the monitoring jobs and targets, the
systemd units (the status screen's, the bench's) and the plan's estimates are all read from here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Service:
    name: str
    label: str  # how a sentence names it ("the app must not take MariaDB's port")
    port: int | None = None  # fixed port (the app's, sshd's and 80/443 are knobs)
    tier: str | None = None  # the tier whose hosts run it; None: every host
    clients: frozenset[str] = frozenset()  # tiers that reach it from other hosts (the firewall admits them)
    package: str | None = None  # an exporter's Debian package, also its systemd unit's name
    job: str | None = None  # Prometheus's job name for it (the label every alert and `make status` groups by)
    memory_mb: int | None = None  # an exporter's resident size, on the high side
    series: int | None = None  # the most series Prometheus keeps for it
    unit: str | None = None  # its systemd unit, less ".service" ("{app_name}": the knob); an exporter's is its package


# The order is the order of every table below, and so of the config files written from them (the
# firewall's rules, prometheus.yml). Each exporter's port is its upstream default (Prometheus's default port allocations wiki page).
# Memory and series: above what the local VPS showed (RSS node 20, mysqld 17, redis 11, nginx 11,
# mtail 17 MB; series node 1882 in a container that sees the machine's interfaces, mysqld 1083,
# Prometheus 884, redis 252, ProxySQL 209, mtail 78, nginx 14); tests/infra/test_monitoring.py checks
# the live figures stay under these.
SERVICES = (
    Service("mariadb", "MariaDB", 3306, "db", frozenset({"app", "db", "backup"}), unit="mariadb"),
    Service("redis", "Redis", 6379, "cache", frozenset({"app"}), unit="redis-server"),
    Service("proxysql_admin", "ProxySQL admin", 6032, "app"),
    Service("proxysql", "ProxySQL", 6033, "app", unit="proxysql"),
    # nginx itself: its ports (80, 443) are knobs.
    Service("nginx", "nginx", None, "web", unit="nginx"),
    Service("nginx_status", "nginx status", 8081, "web"),  # stub_status, on loopback only
    # On loopback only: make status and the SSH tunnel reach it there.
    Service("prometheus", "Prometheus", 9090, "monitoring", series=1000, unit="prometheus"),
    # The app's own /metrics, on the app_port knob.
    Service("app", "the app", None, "app", frozenset({"web", "monitoring"}), job="app", series=800, unit="{app_name}-app"),
    Service("node_exporter", "the node exporter", 9100, None, frozenset({"monitoring"}),
            "prometheus-node-exporter", "node", 24, 2500),
    Service("mysqld_exporter", "the mysqld exporter", 9104, "db", frozenset({"monitoring"}),
            "prometheus-mysqld-exporter", "mariadb", 20, 1500),
    Service("redis_exporter", "the Redis exporter", 9121, "cache", frozenset({"monitoring"}),
            "prometheus-redis-exporter", "redis", 16, 400),
    Service("nginx_exporter", "the nginx exporter", 9113, "web", frozenset({"monitoring"}),
            "prometheus-nginx-exporter", "nginx", 16, 40),
    # nginx's access log as metrics.
    Service("mtail", "mtail", 3903, "web", frozenset({"monitoring"}), "mtail", "nginx_log", 24, 300),
    # ProxySQL's REST API (/metrics); it binds every address.
    Service("proxysql_metrics", "ProxySQL's REST API", 6070, "app", frozenset({"monitoring"}), job="proxysql",
            series=400),
)
BY_NAME = {s.name: s for s in SERVICES}

PORTS = {s.name: s.port for s in SERVICES if s.port is not None}
# Reached from other hosts: service -> (the client tiers, the tier it runs on or None).
CLIENTS = {s.name: (set(s.clients), s.tier) for s in SERVICES if s.clients}
# What Prometheus scrapes: target -> job.
JOBS = {s.name: s.job for s in SERVICES if s.job}
# The exporters that run as services of their own (Debian's packages): name -> package (= unit).
EXPORTER_UNITS = {s.name: s.package for s in SERVICES if s.package}
# ... and the tier whose hosts run each (None: every host).
EXPORTERS = {s.name: s.tier for s in SERVICES if s.package}
EXPORTER_MB = {s.name: s.memory_mb for s in SERVICES if s.package and s.memory_mb is not None}
SERIES = {s.name: s.series for s in SERVICES if s.series}
# Every service with a systemd unit of its own: name -> unit, less ".service" (what `make status`,
# the bench's sampler and the sandbox tests read).
UNITS: dict[str, str] = {s.name: unit for s in SERVICES if (unit := s.unit or s.package)}


def unit_file(name: str, app_name: str) -> str:
    """The systemd unit of service `name` on a host whose app is `app_name`: "peakready-app.service"."""
    return f"{UNITS[name].format(app_name=app_name)}.service"
