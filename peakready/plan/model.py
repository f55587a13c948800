"""What the plan says: one typed part per service, each holding derived numbers only.

A knob the plan does not change (a timeout, a rate limit, a pool size) is not copied in here: the
role hands it to its template under its own name, from host.data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from peakready import GROUP_ROLES
from peakready.errors import PlanError

_Part = TypeVar("_Part")


def part(found: _Part | None, service: str) -> _Part:
    """A host's plan for one service, which the caller needs: a role asks for the part of the tier it
    deploys, and a host of that tier always has it (make_plan sizes every tier a host is in)."""
    if found is None:
        raise PlanError(f"this host has no {service} plan: it is not in a group of that tier")
    return found


ROLE_NAMES = {"web": "nginx", "app": "app", "db": "MariaDB", "cache": "Redis", "monitoring": "Prometheus"}


@dataclass(frozen=True)
class HostFacts:
    name: str
    cores: int
    ram_mb: int
    # By default every group, as one VPS has them, but the backups' (which must be another host).
    groups: tuple[str, ...] = tuple(g for g in GROUP_ROLES if g != "backup_servers")
    # The host's own values of the knobs that may differ between hosts (scope "host"), where it has
    # them: its kernel settings. Missing ones are the defaults.
    own: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def roles(self) -> set[str]:
        return {GROUP_ROLES[g] for g in self.groups if g in GROUP_ROLES}


@dataclass(frozen=True)
class NginxPlan:
    worker_processes: int
    worker_connections: int
    worker_rlimit_nofile: int
    backlog: int
    clients: int  # this web host's share of the users the inventory is sized for
    # The client connections nginx holds at once: OVERLOAD_FACTOR x its clients, so a spike that big
    # is answered (served, or a 503 at the door), never dropped; the upstream ones come on top.
    slots: int
    # The requests this web host lets into each app host at once (upstream max_conns, by app host):
    # beyond, nginx answers 503 with Retry-After itself.
    app_max_conns: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class AppPlan:
    workers: int
    memory_max_mb: int  # the service's cgroup ceiling
    db_connections: int  # workers x (pool + overflow)
    keepalive_s: int
    backlog: int
    threads: int  # gthread's threads per worker: one per database connection it may hold; else 1
    # The requests the app host takes at once from every nginx together (nginx's door):
    # app_worker_concurrency a worker, served or waiting.
    max_in_flight: int


@dataclass(frozen=True)
class ProxySQLPlan:
    mysql_threads: int
    max_connections: int  # frontend: the app's clients
    backend_max_connections: int  # to MariaDB
    connection_max_age_ms: int
    backlog: int


@dataclass(frozen=True)
class MariaDBPlan:
    server_id: int
    primary: bool
    innodb_buffer_pool_mb: int
    innodb_log_file_mb: int
    innodb_log_buffer_mb: int
    key_buffer_mb: int
    aria_pagecache_mb: int
    max_connections: int
    thread_cache_size: int
    table_open_cache: int
    table_open_cache_instances: int
    open_files_limit: int
    back_log: int
    # Each connection's own buffers (KB) by variable, tmp_table_size and max_heap_table_size included.
    session_buffers_kb: dict[str, int]
    # The most MariaDB can take (MB): its global buffers, plus every connection's buffers at once.
    worst_case_mb: int


@dataclass(frozen=True)
class RedisPlan:
    maxmemory_mb: int
    fork_headroom_mb: int
    tcp_backlog: int


@dataclass(frozen=True)
class MonitoringPlan:
    """Prometheus on the monitoring host, sized for every target of the inventory."""
    scrape_interval_s: int
    rate_window_s: int  # the alert rules' rate() windows: 4 scrapes
    series: int  # the most series every target of the inventory exposes together
    memory_mb: int
    retention_size_mb: int  # the disk its samples may take (--storage.tsdb.retention.size)


@dataclass
class HostPlan:
    host: HostFacts
    nginx: NginxPlan | None = None
    app: AppPlan | None = None
    proxysql: ProxySQLPlan | None = None
    mariadb: MariaDBPlan | None = None
    redis: RedisPlan | None = None
    monitoring: MonitoringPlan | None = None
    exporters: tuple[str, ...] = ()  # the exporters this host runs (peakready/monitoring.py)
    sysctl: dict[str, int | str] = field(default_factory=dict)
    nofile: dict[str, int] = field(default_factory=dict)  # LimitNOFILE per service
    memory_mb: dict[str, int] = field(default_factory=dict)  # what each part of the host uses
    # The RAM the weights give the app, MariaDB and Redis; MariaDB's buffer pool is sized from its
    # share once the connections of every app host are known.
    share_mb: dict[str, float] = field(default_factory=dict)

    @property
    def memory_total_mb(self) -> int:
        return sum(self.memory_mb.values())


@dataclass(frozen=True)
class Capacity:
    """The whole inventory at its peak."""
    users: int  # the users the inventory is sized for (target_concurrency, or derived)
    derived: bool  # users derived from the app hosts' cores and the web hosts' RAM
    app_cores: int
    proxysql: bool
    to_mariadb: int  # connections MariaDB sees from every app host
    clients: int  # concurrent clients nginx accepts
    app_workers: int
    requests_in_flight: int  # what the app hosts take at once (nginx's door): beyond, 503 + Retry-After
    app_db_connections: int
    mariadb_max_connections: int


@dataclass
class Plan:
    hosts: dict[str, HostPlan]
    knobs: dict
    capacity: Capacity

    def __getitem__(self, name: str) -> HostPlan:
        return self.hosts[name]
